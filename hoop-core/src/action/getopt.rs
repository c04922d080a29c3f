//! A command's options read as its own `getopt_long` reads them.
//!
//! Which word is a wrapper's command, which is an option's value, and which option a word
//! abbreviates, decide what hoop checks. Each red-team round that found a word read the wrong
//! way (`ionice -t` taking no value, `env --un NAME` abbreviating `--unset`, `script -c A -c B`
//! running `B`) found a hand-written reading that guessed. Here every option a wrapper takes
//! is listed with its arity, read as glibc's getopt reads it, and an option not listed (or an
//! abbreviation matching several) makes the line unreadable: a reading hoop is not sure of is
//! never the one it checks.

/// How many values an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    /// A flag.
    No,
    /// A value: the rest of the word, or the next word.
    Required,
    /// A value only when glued (`-dVALUE`, `--name=VALUE`).
    Optional,
}

/// A program's option grammar in getopt_long's terms.
pub(crate) struct Spec {
    /// The short options with their arity (`('u', Arity::Required)`).
    pub short: &'static [(char, Arity)],
    /// The long options, without their dashes, with their arity.
    pub long: &'static [(&'static str, Arity)],
    /// Options end at the first operand (a leading `+` in the option string, as wrappers use),
    /// rather than being gathered from anywhere on the line (GNU's permutation).
    pub stop_at_operand: bool,
}

/// One option as given: its short letter or long name, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Given<'a> {
    /// The short letter, when given short.
    pub short: Option<char>,
    /// The long name (whole, however abbreviated), when given long.
    pub long: Option<&'static str>,
    /// Its value, if it took one.
    pub value: Option<&'a str>,
}

impl Given<'_> {
    /// Whether this is the option with short letter `short` or long name `long`.
    pub fn is(&self, short: char, long: &str) -> bool {
        self.short == Some(short) || self.long == Some(long)
    }
}

/// A command line read against a [`Spec`].
#[derive(Debug, Default)]
pub(crate) struct Parsed<'a> {
    /// The options, in order.
    pub options: Vec<Given<'a>>,
    /// The operands, in order (from the first one on, when options stop there).
    pub operands: Vec<&'a str>,
}

impl Parsed<'_> {
    /// Whether any option is the one with short letter `short` or long name `long`.
    pub fn has(&self, short: char, long: &str) -> bool {
        self.options.iter().any(|g| g.is(short, long))
    }
}

/// `args` read against `spec`; `Err` says why hoop cannot be sure how the program reads them.
pub(crate) fn parse<'a>(spec: &Spec, args: &'a [String]) -> Result<Parsed<'a>, String> {
    let mut out = Parsed::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            out.operands.extend(it.by_ref().map(String::as_str));
            break;
        }
        if let Some(name) = a.strip_prefix("--") {
            let (given, glued) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (name, None),
            };
            let (long, arity) = long_option(spec, given)?;
            let value = match (arity, glued) {
                (Arity::No, Some(_)) => return Err(format!("--{long} takes no value")),
                (Arity::No, None) | (Arity::Optional, None) => None,
                (_, Some(v)) => Some(v),
                (Arity::Required, None) => Some(it.next().map(String::as_str).ok_or_else(|| format!("--{long} lacks its value"))?),
            };
            out.options.push(Given { short: None, long: Some(long), value });
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            out.operands.push(a);
            if spec.stop_at_operand {
                out.operands.extend(it.by_ref().map(String::as_str));
                break;
            }
            continue;
        };
        for (i, c) in cluster.char_indices() {
            let Some(&(_, arity)) = spec.short.iter().find(|(s, _)| *s == c) else {
                return Err(format!("-{c} is an option hoop does not know for this program"));
            };
            let rest = &cluster[i + c.len_utf8()..];
            match arity {
                Arity::No => out.options.push(Given { short: Some(c), long: None, value: None }),
                Arity::Optional => {
                    out.options.push(Given { short: Some(c), long: None, value: (!rest.is_empty()).then_some(rest) });
                    break;
                }
                Arity::Required => {
                    let value = if rest.is_empty() { it.next().map(String::as_str).ok_or_else(|| format!("-{c} lacks its value"))? } else { rest };
                    out.options.push(Given { short: Some(c), long: None, value: Some(value) });
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The long option `given` names: itself, or the one option it abbreviates.
fn long_option(spec: &Spec, given: &str) -> Result<(&'static str, Arity), String> {
    if let Some(&(name, arity)) = spec.long.iter().find(|(n, _)| *n == given) {
        return Ok((name, arity));
    }
    let mut matches = spec.long.iter().filter(|(n, _)| !given.is_empty() && n.starts_with(given));
    match (matches.next(), matches.next()) {
        (Some(&(name, arity)), None) => Ok((name, arity)),
        (Some(_), Some(_)) => Err(format!("--{given} abbreviates more than one option")),
        (None, _) => Err(format!("--{given} is an option hoop does not know for this program")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        short: &[('i', Arity::No), ('u', Arity::Required), ('d', Arity::Optional)],
        long: &[("unset", Arity::Required), ("ignore-environment", Arity::No), ("debug", Arity::Optional), ("chdir", Arity::Required)],
        stop_at_operand: true,
    };

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn values_clusters_and_abbreviations_read_as_getopt_reads_them() {
        let a = argv("-iu NAME --un X --unset=Y -dx -d cmd -u");
        let p = parse(&SPEC, &a).unwrap();
        let values: Vec<_> = p.options.iter().map(|g| g.value).collect();
        assert_eq!(values, [None, Some("NAME"), Some("X"), Some("Y"), Some("x"), None]);
        assert!(p.options[2].is('u', "unset"), "`--un` is `--unset`");
        assert_eq!(p.operands, ["cmd", "-u"], "options end at the first operand");
        // A required value is the next word even when it looks like an option.
        assert_eq!(parse(&SPEC, &argv("-u -i cmd")).unwrap().operands, ["cmd"]);
        assert_eq!(parse(&SPEC, &argv("-- -i")).unwrap().operands, ["-i"]);
    }

    #[test]
    fn what_hoop_cannot_be_sure_of_is_an_error() {
        for line in ["-x cmd", "--nope cmd", "--ignore-environment=1 cmd", "-u"] {
            assert!(parse(&SPEC, &argv(line)).is_err(), "{line}");
        }
        let two = Spec { short: &[], long: &[("color", Arity::No), ("colour", Arity::No)], stop_at_operand: true };
        assert!(parse(&two, &argv("--col x")).is_err(), "ambiguous");
        assert!(parse(&two, &argv("--color x")).is_ok(), "an exact name is never ambiguous");
    }

    #[test]
    fn without_stop_options_are_gathered_from_the_whole_line() {
        let spec = Spec { stop_at_operand: false, ..SPEC };
        let a = argv("log -u A file -u B");
        let p = parse(&spec, &a).unwrap();
        assert_eq!(p.operands, ["log", "file"]);
        let values: Vec<_> = p.options.iter().map(|g| g.value).collect();
        assert_eq!(values, [Some("A"), Some("B")], "every one given, in order");
    }
}
