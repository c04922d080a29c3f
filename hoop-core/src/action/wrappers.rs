//! The programs that run another command (`sudo`, `env`, `timeout`, `flock`, `script`, …):
//! each one's options, read by [`getopt`](super::getopt), and where its command starts.

use super::getopt::{self, Arity::*, Parsed, Spec};

/// Wrappers whose command (an argv after their options) hoop reads in turn.
pub(crate) const WRAPPERS: &[&str] = &["sudo", "doas", "env", "nohup", "nice", "ionice", "timeout", "stdbuf", "time", "command", "builtin", "exec", "setsid", "chrt", "taskset", "unbuffer", "flock"];

/// The option grammar of `wrapper` (util-linux, coreutils, sudo 1.9, GNU time, bash builtins).
/// Only options whose arity is certain are listed: any other makes the line unreadable.
fn spec(wrapper: &str) -> Option<Spec> {
    let spec = |short, long| Some(Spec { short, long, stop_at_operand: true });
    match wrapper {
        "sudo" => spec(
            &[
                ('A', No), ('B', No), ('b', No), ('C', Required), ('c', Required), ('D', Required), ('E', No), ('e', No), ('g', Required), ('H', No),
                ('h', Optional), ('i', No), ('K', No), ('k', No), ('l', No), ('N', No), ('n', No), ('P', No), ('p', Required), ('R', Required),
                ('r', Required), ('S', No), ('s', No), ('T', Required), ('t', Required), ('U', Required), ('u', Required), ('V', No), ('v', No),
            ],
            &[
                ("askpass", No), ("background", No), ("bell", No), ("close-from", Required), ("login-class", Required), ("chdir", Required),
                ("preserve-env", Optional), ("edit", No), ("group", Required), ("set-home", No), ("help", No), ("host", Required), ("login", No),
                ("remove-timestamp", No), ("reset-timestamp", No), ("list", No), ("non-interactive", No), ("preserve-groups", No),
                ("prompt", Required), ("chroot", Required), ("role", Required), ("stdin", No), ("shell", No), ("type", Required),
                ("command-timeout", Required), ("other-user", Required), ("user", Required), ("version", No), ("validate", No),
            ],
        ),
        "doas" => spec(&[('a', Required), ('C', Required), ('L', No), ('n', No), ('s', No), ('u', Required)], &[]),
        "env" => spec(
            &[('a', Required), ('C', Required), ('i', No), ('S', Required), ('u', Required), ('v', No), ('0', No)],
            &[
                ("argv0", Required), ("chdir", Required), ("ignore-environment", No), ("null", No), ("unset", Required), ("split-string", Required),
                ("block-signal", Optional), ("default-signal", Optional), ("ignore-signal", Optional), ("list-signal-handling", No), ("debug", No),
                ("help", No), ("version", No),
            ],
        ),
        "nohup" | "builtin" => spec(&[], &[("help", No), ("version", No)]),
        "nice" => spec(&[('n', Required)], &[("adjustment", Required), ("help", No), ("version", No)]),
        "ionice" => spec(
            &[('c', Required), ('n', Required), ('p', Required), ('P', Required), ('u', Required), ('t', No), ('h', No), ('V', No)],
            &[("class", Required), ("classdata", Required), ("pid", Required), ("pgid", Required), ("uid", Required), ("ignore", No), ("help", No), ("version", No)],
        ),
        "timeout" => spec(
            &[('k', Required), ('s', Required), ('v', No)],
            &[("foreground", No), ("kill-after", Required), ("preserve-status", No), ("signal", Required), ("verbose", No), ("help", No), ("version", No)],
        ),
        "stdbuf" => spec(&[('i', Required), ('o', Required), ('e', Required)], &[("input", Required), ("output", Required), ("error", Required), ("help", No), ("version", No)]),
        "time" => spec(
            &[('a', No), ('f', Required), ('o', Required), ('p', No), ('q', No), ('v', No), ('V', No)],
            &[("append", No), ("format", Required), ("output", Required), ("portability", No), ("quiet", No), ("verbose", No), ("help", No), ("version", No)],
        ),
        "command" => spec(&[('p', No), ('v', No), ('V', No)], &[]),
        "exec" => spec(&[('a', Required), ('c', No), ('l', No)], &[]),
        "setsid" => spec(&[('c', No), ('f', No), ('w', No), ('h', No), ('V', No)], &[("ctty", No), ("fork", No), ("wait", No), ("help", No), ("version", No)]),
        "chrt" => spec(
            &[
                ('a', No), ('b', No), ('d', No), ('D', Required), ('e', No), ('f', No), ('i', No), ('m', No), ('o', No), ('p', No), ('P', Required), ('r', No),
                ('R', No), ('T', Required), ('v', No), ('h', No), ('V', No),
            ],
            &[
                ("all-tasks", No), ("batch", No), ("deadline", No), ("fifo", No), ("idle", No), ("max", No), ("other", No), ("pid", No), ("rr", No),
                ("reset-on-fork", No), ("sched-runtime", Required), ("sched-period", Required), ("sched-deadline", Required), ("verbose", No),
                ("help", No), ("version", No),
            ],
        ),
        "taskset" => spec(&[('a', No), ('c', No), ('p', No), ('h', No), ('V', No)], &[("all-tasks", No), ("cpu-list", No), ("pid", No), ("help", No), ("version", No)]),
        "unbuffer" => spec(&[('p', No)], &[]),
        "flock" => spec(
            &[('s', No), ('e', No), ('x', No), ('n', No), ('o', No), ('F', No), ('u', No), ('w', Required), ('E', Required), ('h', No), ('V', No)],
            &[
                ("shared", No), ("exclusive", No), ("unlock", No), ("nonblocking", No), ("nonblock", No), ("timeout", Required), ("wait", Required),
                ("conflict-exit-code", Required), ("close", No), ("no-fork", No), ("verbose", No), ("help", No), ("version", No),
            ],
        ),
        _ => None,
    }
}

/// What a wrapper runs.
#[derive(Debug)]
pub(crate) enum Command<'a> {
    /// Nothing (a query such as `command -v`, or process ids: `ionice -p 42`).
    None,
    /// A command line: the argv it runs.
    Argv(&'a [String]),
    /// Shell text it gives to `sh -c` (`flock FILE -c TEXT`).
    Text(&'a str),
}

/// A wrapper's line read: its own options, the assignments it makes, and its command.
pub(crate) struct Wrapped<'a> {
    /// Its options.
    pub options: Parsed<'a>,
    /// `NAME=value` words before the command (`env`, `sudo`, `doas`).
    pub assigns: bool,
    /// What it runs.
    pub command: Command<'a>,
}

/// `args` of `wrapper` read as the wrapper reads them; `Err` says why hoop cannot be sure.
pub(crate) fn read<'a>(wrapper: &str, args: &'a [String]) -> Result<Wrapped<'a>, String> {
    let spec = spec(wrapper).ok_or_else(|| format!("{wrapper} is not a wrapper hoop reads"))?;
    // coreutils nice takes a legacy adjustment first: `nice -5 cmd`, `nice --10 cmd`.
    let legacy = usize::from(wrapper == "nice" && args.first().is_some_and(|a| legacy_adjustment(a)));
    let options = getopt::parse(&spec, args.get(legacy..).unwrap_or_default()).map_err(|e| format!("{wrapper}: {e}"))?;
    let mut start = args.len().saturating_sub(options.operands.len());
    let no_command = match wrapper {
        "ionice" => options.has('p', "pid") || options.has('P', "pgid") || options.has('u', "uid"),
        "chrt" => options.has('p', "pid") || options.has('m', "max"),
        "taskset" => options.has('p', "pid"),
        "command" => options.has('v', "") || options.has('V', ""),
        _ => false,
    };
    let mut assigns = false;
    if matches!(wrapper, "env" | "sudo" | "doas") {
        // `env - cmd` is `env -i cmd`.
        if wrapper == "env" && args.get(start).is_some_and(|a| a == "-") {
            start += 1;
        }
        while args.get(start).is_some_and(|a| super::shell::is_assignment(a)) {
            assigns = true;
            start += 1;
        }
    }
    // timeout DURATION CMD, chrt PRIORITY CMD, taskset MASK CMD, flock FILE CMD.
    if matches!(wrapper, "timeout" | "chrt" | "taskset" | "flock") {
        start += 1;
    }
    let rest = args.get(start..).unwrap_or_default();
    let command = match rest {
        _ if no_command => Command::None,
        [] => Command::None,
        // util-linux flock: `-c TEXT` (or `--command`) right after the file, and nothing after it.
        [c, text] if wrapper == "flock" && (c == "-c" || c == "--command") => Command::Text(text),
        [c, ..] if wrapper == "flock" && (c == "-c" || c == "--command") => return Err("flock -c takes exactly one command text".into()),
        _ => Command::Argv(rest),
    };
    Ok(Wrapped { options, assigns, command })
}

/// `-5`, `--10`, `-+3`: coreutils nice's adjustment in the old spelling.
fn legacy_adjustment(a: &str) -> bool {
    let n = a.strip_prefix('-').map(|n| n.strip_prefix(['-', '+']).unwrap_or(n)).unwrap_or_default();
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

/// `script`'s command texts: every `-c`/`--command` (it runs the last; each is checked), or
/// `None` when it has none and runs the login shell on its input. Its options are gathered
/// from anywhere on the line, as util-linux's getopt permutes them.
pub(crate) fn script_commands(args: &[String]) -> Result<Option<Vec<&str>>, String> {
    let spec = Spec {
        short: &[
            ('a', No), ('c', Required), ('e', No), ('E', Required), ('f', No), ('q', No), ('B', Required), ('I', Required), ('O', Required), ('T', Required),
            ('m', Required), ('t', Optional), ('V', No), ('h', No),
        ],
        long: &[
            ("append", No), ("command", Required), ("return", No), ("echo", Required), ("flush", No), ("force", No), ("log-io", Required), ("log-in", Required),
            ("log-out", Required), ("log-timing", Required), ("logging-format", Required), ("quiet", No), ("timing", Optional), ("version", No), ("help", No),
        ],
        stop_at_operand: false,
    };
    let parsed = getopt::parse(&spec, args).map_err(|e| format!("script: {e}"))?;
    let texts: Vec<&str> = parsed.options.iter().filter(|g| g.is('c', "command")).filter_map(|g| g.value).collect();
    Ok((!texts.is_empty()).then_some(texts))
}

/// `su`/`runuser`: their command texts (every `-c`, `--command`, `--session-command`, and the
/// text after a `-c` among the words passed on to the shell), or `None` for a login shell.
/// `-s SHELL` runs the text with another program than the shell: unreadable.
pub(crate) fn su_commands(args: &[String]) -> Result<Option<Vec<&str>>, String> {
    let spec = Spec {
        short: &[('c', Required), ('f', No), ('g', Required), ('G', Required), ('l', No), ('m', No), ('p', No), ('P', No), ('s', Required), ('w', Required), ('u', Required), ('h', No), ('V', No)],
        long: &[
            ("command", Required), ("session-command", Required), ("fast", No), ("group", Required), ("supp-group", Required), ("login", No),
            ("preserve-environment", No), ("pty", No), ("shell", Required), ("whitelist-environment", Required), ("user", Required), ("help", No),
            ("version", No),
        ],
        stop_at_operand: true,
    };
    let parsed = getopt::parse(&spec, args).map_err(|e| format!("su: {e}"))?;
    if parsed.has('s', "shell") {
        return Err("su -s runs the command with a program of its options".into());
    }
    let mut texts: Vec<&str> = parsed.options.iter().filter(|g| g.is('c', "command") || g.long == Some("session-command")).filter_map(|g| g.value).collect();
    // `su USER -c TEXT`: the words after the user go to the shell, `-c TEXT` among them.
    let passed = parsed.operands.get(1..).unwrap_or_default();
    for (i, w) in passed.iter().enumerate() {
        if *w == "-c" || w.starts_with('-') && !w.starts_with("--") && w.contains('c') {
            texts.extend(passed.get(i + 1).copied());
        }
    }
    if passed.iter().any(|w| !w.starts_with('-')) && texts.is_empty() {
        return Err("su passes words to the shell that hoop cannot read as a command".into());
    }
    Ok((!texts.is_empty()).then_some(texts))
}

/// `watch`'s command: shell text of its words (or, with `-x`, the words as an argv).
pub(crate) fn watch_command(args: &[String]) -> Result<(bool, &[String]), String> {
    let spec = Spec {
        short: &[('b', No), ('c', No), ('C', No), ('d', Optional), ('e', No), ('g', No), ('n', Required), ('p', No), ('t', No), ('w', No), ('x', No), ('h', No), ('v', No)],
        long: &[
            ("beep", No), ("color", No), ("no-color", No), ("differences", Optional), ("errexit", No), ("chgexit", No), ("interval", Required),
            ("precise", No), ("no-title", No), ("no-wrap", No), ("exec", No), ("help", No), ("version", No),
        ],
        stop_at_operand: true,
    };
    let parsed = getopt::parse(&spec, args).map_err(|e| format!("watch: {e}"))?;
    let rest = args.get(args.len().saturating_sub(parsed.operands.len())..).unwrap_or_default();
    Ok((parsed.has('x', "exec"), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn command(wrapper: &str, line: &str) -> Result<Vec<String>, String> {
        let a = argv(line);
        Ok(match read(wrapper, &a)?.command {
            Command::Argv(c) => c.to_vec(),
            Command::Text(t) => vec![format!("sh -c {t}")],
            Command::None => Vec::new(),
        })
    }

    /// Red-team rounds 41 and 48: the word a wrapper runs, as the wrapper reads its options.
    #[test]
    fn a_wrappers_command_is_the_word_it_runs() {
        for (w, line, first) in [
            ("env", "--un id python3 -c x", "python3"),
            ("env", "--uns id python3", "python3"),
            ("env", "-iu NAME python3", "python3"),
            ("env", "- A=1 python3", "python3"),
            ("ionice", "-t python3 -c x", "python3"),
            ("ionice", "-n7 -t python3", "python3"),
            ("ionice", "--class 3 python3", "python3"),
            ("ionice", "-c3 python3", "python3"),
            ("sudo", "-Eu root python3", "python3"),
            ("sudo", "--us root python3", "python3"),
            ("sudo", "-h python3", "python3"),
            ("nice", "-5 python3", "python3"),
            ("nice", "--10 python3", "python3"),
            ("nice", "-n 5 python3", "python3"),
            ("timeout", "-k 1 5 python3", "python3"),
            ("timeout", "--kill 1 5 python3", "python3"),
            ("stdbuf", "-oL python3", "python3"),
            ("stdbuf", "--out L python3", "python3"),
            ("chrt", "-f 5 python3", "python3"),
            ("taskset", "-c 0 python3", "python3"),
            ("flock", "-w 1 /tmp/l python3", "python3"),
            ("time", "-o /tmp/t python3", "python3"),
            ("exec", "-c python3", "python3"),
        ] {
            assert_eq!(command(w, line).unwrap().first().map(String::as_str), Some(first), "{w} {line}");
        }
        assert_eq!(command("flock", "/tmp/l -c id").unwrap(), ["sh -c id"]);
        for (w, line) in [("ionice", "-p 1 python3"), ("taskset", "-p 1 2"), ("chrt", "-p 5 1"), ("command", "-v python3")] {
            assert!(command(w, line).unwrap().is_empty(), "{w} {line}: no command");
        }
    }

    #[test]
    fn options_hoop_is_not_sure_of_are_unreadable() {
        for (w, line) in [("env", "--i x python3"), ("ionice", "-q python3"), ("timeout", "--ver 5 python3"), ("sudo", "--p x python3"), ("flock", "-c id /tmp/l"), ("flock", "/tmp/l -c id x")] {
            assert!(command(w, line).is_err(), "{w} {line}: {:?}", command(w, line));
        }
    }

    #[test]
    fn script_su_and_watch_check_every_command_they_may_run() {
        let a = argv("-c id -qc python3 /dev/null -c last");
        assert_eq!(script_commands(&a).unwrap().unwrap(), ["id", "python3", "last"]);
        assert_eq!(script_commands(&argv("-q /dev/null")).unwrap(), None);
        assert_eq!(su_commands(&argv("-c id -c python3 root")).unwrap().unwrap(), ["id", "python3"]);
        assert_eq!(su_commands(&argv("root -c python3")).unwrap().unwrap(), ["python3"]);
        assert!(su_commands(&argv("-s /usr/bin/python3 -c x root")).is_err());
        let a = argv("-n 5 -x python3 -c x");
        let (exec, rest) = watch_command(&a).unwrap();
        assert!(exec && rest[0] == "python3");
    }
}
