//! Which programs hoop knows: those whose every way of running other code (an option naming a
//! command, a script in a file, a pager's `!`) the shell reader models, so that what they run
//! can be read from the command line.
//!
//! A program not on this list is *unlisted*: hoop cannot tell from its arguments what it runs.
//! Rules see those names (`action.exec.unlisted`), and the default agent rules hold such
//! commands for review. An allow list, because the deny lists that came before it
//! (interpreters, wrappers, code runners) were found short every red-team round: `choom`,
//! `memusage`, `msgfilter` and `debconf` all ran `python3 -c` unreviewed before anyone listed
//! them.
//!
//! What may be listed: programs that run nothing beyond their arguments as read, or whose
//! code-running options `shell::runs_code` (and the walker's special cases) turn into an
//! interpreter or an unreadable line. Programs that read commands from a terminal (pagers,
//! `top`) are listed because a command run on a terminal is a shell action of its own
//! ([`super::Action::on_terminal`]), held for agents whatever its program.

/// Programs known whatever their arguments.
const KNOWN: &[&str] = &[
    // Shell builtins and keywords that run as simple commands.
    ":", "true", "false", "echo", "printf", "test", "[", "pwd", "cd", "pushd", "popd", "dirs", "exit", "logout", "return",
    "wait", "jobs", "fg", "bg", "kill", "help", "times", "umask", "ulimit", "shift", "break", "continue", "type", "disown",
    "suspend", "caller", "set",
    // Files and text (coreutils, findutils, diffutils, grep, compressors).
    "ls", "dir", "vdir", "cat", "tac", "head", "tail", "wc", "sort", "uniq", "cut", "paste", "join", "tr", "fold", "fmt",
    "nl", "pr", "expand", "unexpand", "comm", "cmp", "diff", "diff3", "sdiff", "tee", "split", "csplit", "shuf", "md5sum",
    "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum", "cksum", "sum", "base64", "base32", "basenc",
    "od", "stat", "readlink", "realpath", "basename", "dirname", "du", "df", "touch", "mkdir", "rmdir", "rm", "cp", "mv",
    "ln", "chmod", "chown", "chgrp", "truncate", "mktemp", "install", "dd", "seq", "yes", "sleep", "date", "cal", "numfmt",
    "factor", "expr", "tsort", "mkfifo", "sync", "find", "locate", "which", "whereis", "tree", "file", "grep", "egrep",
    "fgrep", "zgrep", "zcat", "zless", "gzip", "gunzip", "bzip2", "bunzip2", "bzcat", "xz", "unxz", "xzcat", "lzma",
    "zstd", "unzstd", "zstdcat", "lz4", "tar", "zip", "sed", "awk", "gawk", "mawk", "nawk", "jq", "xxd", "hexdump",
    "strings", "iconv", "column", "look", "less", "more", "lsattr", "getfacl",
    // The system, read.
    "uname", "hostname", "id", "whoami", "groups", "users", "who", "w", "last", "lastlog", "logname", "tty", "nproc",
    "arch", "printenv", "uptime", "free", "vmstat", "iostat", "mpstat", "pidstat", "sar", "ps", "pgrep", "pidof", "top",
    "htop", "pkill", "killall", "lsof", "fuser", "lscpu", "lsblk", "lsmem", "lspci", "lsusb", "blkid", "findmnt", "dmesg",
    "getent", "locale", "tput", "clear", "stty", "journalctl", "timedatectl", "hostnamectl", "loginctl", "man",
    // The network, read.
    "ss", "netstat", "ping", "ping6", "traceroute", "tracepath", "mtr", "dig", "host", "nslookup", "openssl",
    // Programs that wrap another command, which is read in turn.
    "sudo", "doas", "env", "nohup", "nice", "ionice", "timeout", "stdbuf", "time", "command", "builtin", "exec", "setsid",
    "chrt", "taskset", "flock", "watch", "su", "runuser", "sg", "newgrp", "script",
    // Transfers: their code-running options are modelled. (Not git: every git command runs
    // what the configuration of the repository it finds says, and an agent can point it at one
    // it wrote: a `.git` file holding `gitdir: /tmp/x`, red-team round 40.)
    "scp", "rsync",
];

/// Known programs that, on a terminal, read keys as commands: a pager's `!command`, `top`'s
/// and `htop`'s keys, and the pager that `man`, the systemd tools, `dmesg` and `dpkg -l` start
/// when their output is a terminal.
const READ_KEYS: &[&str] = &[
    "less", "more", "zless", "man", "top", "htop", "journalctl", "systemctl", "timedatectl", "hostnamectl", "loginctl", "dmesg",
    "dpkg", "dpkg-query", "watch", "nslookup",
];

/// Whether `program` on a terminal reads what is typed to it as commands hoop cannot check
/// (any program hoop does not know may).
pub(crate) fn reads_keys(program: &str, unlisted: &[String]) -> bool {
    READ_KEYS.contains(&program) || unlisted.iter().any(|p| p == program)
}

/// Whether hoop knows `program` (its plain name, see `shell::known_name`) as run with `args`.
pub(crate) fn listed(program: &str, args: &[String]) -> bool {
    if KNOWN.contains(&program) {
        return listed_use(program, args);
    }
    let sub = || args.iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or("");
    // An option given whole, with `=value`, or (a long one) by any prefix getopt_long would
    // take for it (red-team round 45: `wget --conf=FILE`, `--use-askp=PROG`).
    let has = |o: &[&str]| {
        args.iter().any(|a| o.iter().any(|x| a == x || a.strip_prefix(x).is_some_and(|r| r.starts_with('=')) || (x.starts_with("--") && super::shell::long(a, x))))
    };
    match program {
        // Reading units and their state; `edit` runs an editor, `link` and `set-environment`
        // change what later services run.
        "systemctl" => {
            !has(&["--host", "--machine", "--root", "--image"]) && !args.iter().any(|a| short_cluster_has(a, &['H', 'M']))
                && matches!(
                    sub(),
                    "" | "status" | "show" | "cat" | "list-units" | "list-unit-files" | "list-timers" | "list-sockets" | "list-dependencies"
                        | "list-jobs" | "list-machines" | "is-active" | "is-enabled" | "is-failed" | "is-system-running" | "get-default"
                        | "show-environment" | "help"
                )
        }
        "apt" | "apt-cache" => matches!(sub(), "list" | "show" | "showpkg" | "search" | "policy" | "depends" | "rdepends" | "madison" | "pkgnames" | "stats"),
        "dpkg" => {
            !args.is_empty()
                && args.iter().all(|a| {
                    matches!(a.as_str(), "-l" | "-L" | "-s" | "-S" | "-p" | "--list" | "--listfiles" | "--status" | "--search" | "--print-avail" | "--print-architecture" | "--get-selections")
                        || !a.starts_with('-')
                })
        }
        "dpkg-query" => true,
        "rpm" => args.iter().any(|a| a == "-q" || a.starts_with("-q") && !a.starts_with("--") || a == "--query") && !has(&["--eval", "-E", "--macros", "--load", "--rcfile", "--dbpath", "--root"]),
        "ip" => ip_shows(args),
        "ifconfig" | "route" | "arp" => true,
        // A config file (`-K`, `--config`, `wget -e`) holds options the command line does not
        // show, an output file among them (`output = ~/.bashrc`); `--use-askpass` runs one.
        // (A short option in a cluster too: `wget -qe CMD`, `curl -sK FILE`.)
        // (`-q`/`--disable` skip `~/.curlrc` when first, and do nothing elsewhere.)
        "curl" => !has(&["-K", "--config"]) && !args.iter().any(|a| super::shell::short_given(a, &['K'], super::shell::CURL_WITH_ARG)),
        "wget" => !has(&["-e", "--execute", "--config", "--use-askpass"]) && !args.iter().any(|a| super::shell::short_given(a, &['e'], "aABDeiIlOoPQRtTUwX")),
        _ => false,
    }
}

/// Whether `ip` only shows state: reading options, then an object and `show`, `list` or `get`
/// (or nothing). ip takes any prefix of a word, so every other spelling is a change or runs
/// something: `netns e NS CMD` runs CMD, `--b FILE` reads commands from a file (red-team round
/// 84: both ran a shell unreviewed).
fn ip_shows(args: &[String]) -> bool {
    const READING: &[&str] = &["-4", "-6", "-br", "-brief", "-j", "-json", "-p", "-pretty", "-s", "-stats", "-statistics", "-d", "-details", "-c", "-color", "-h", "-human", "-o", "-oneline", "-t", "-timestamp", "-r", "-resolve"];
    const OBJECTS: &[&str] = &[
        "a", "ad", "addr", "address", "l", "li", "lin", "link", "r", "ro", "rou", "rout", "route", "n", "ne", "nei", "neigh", "neighbor", "neighbour", "ru", "rul", "rule",
        "maddr", "maddress", "mroute",
    ];
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a.starts_with('-') && words.is_empty() {
            match a.as_str() {
                "-n" | "-netns" => i += 1,
                o if READING.contains(&o) => {}
                _ => return false,
            }
        } else {
            words.push(a.as_str());
        }
        i += 1;
    }
    match words.as_slice() {
        [] => true,
        [object] => OBJECTS.contains(object),
        [object, verb, ..] => OBJECTS.contains(object) && matches!(*verb, "show" | "list" | "ls" | "lst" | "get"),
    }
}

/// Whether `a` is a short-option word holding one of `letters` (`-Huser@host`, `-qH h`).
fn short_cluster_has(a: &str, letters: &[char]) -> bool {
    a.strip_prefix('-').is_some_and(|c| !c.starts_with('-') && c.contains(letters))
}

/// Whether a program on [`KNOWN`] is used in a way the reader models; the few whose options
/// run code through a mechanism the walker does not follow are unlisted when they do.
fn listed_use(program: &str, args: &[String]) -> bool {
    match program {
        // `less`/`more` with an input preprocessor or editor of their own options.
        "less" | "more" | "zless" => !args.iter().any(|a| a.starts_with("--lesskey") || a.starts_with("-k") || a.contains("LESSOPEN")),
        // Readers with options that change state (round 84): clearing the kernel's ring
        // buffer, killing sockets, renaming the host, setting the clock.
        "dmesg" => !args.iter().any(|a| matches!(a.as_str(), "-C" | "-c" | "-D" | "-E" | "--clear" | "--read-clear" | "--console-off" | "--console-on") || a.starts_with("-n") || a.starts_with("--console-level") || (a.starts_with('-') && !a.starts_with("--") && a.contains(['C', 'c']))),
        "ss" => !args.iter().any(|a| a == "-K" || a == "--kill" || (a.starts_with('-') && !a.starts_with("--") && a.contains('K'))),
        "hostname" => args.iter().all(|a| a.starts_with('-') && !a.starts_with("-F") && !a.starts_with("--file") && a != "-b" && a != "--boot"),
        // (`-s` in a cluster before an option that takes the rest as its value: `-Iseconds`.)
        "date" => !args.iter().any(|a| {
            a.starts_with("--set") || a.strip_prefix('-').filter(|c| !c.starts_with('-')).is_some_and(|c| c.split(['I', 'd', 'f', 'r']).next().is_some_and(|head| head.contains('s')))
        }),
        // Signals end processes: in a container running as root, `kill -9 -1` ends every one of
        // them, the gateway's neighbours included (red-team round 85 did so, unreviewed).
        "kill" | "pkill" | "killall" | "skill" | "snice" | "killall5" => false,
        // awk reading the environment prints values without their names (round 85:
        // `awk 'BEGIN{print ENVIRON["DB_PASSWORD"]}'`).
        "awk" | "gawk" | "mawk" | "nawk" => !args.iter().any(|a| a.contains("ENVIRON") || a.contains("PROCINFO")),
        // Their state-changing verbs (`set-time`, `set-hostname`, `kill-user`, …): only reading
        // ones are modelled (round 85).
        "timedatectl" | "hostnamectl" | "loginctl" => matches!(
            args.iter().find(|a| !a.starts_with('-')).map(String::as_str).unwrap_or(""),
            "" | "status" | "show" | "list-timezones" | "timesync-status" | "show-timesync" | "list-sessions" | "list-users" | "list-seats" | "session-status"
                | "user-status" | "seat-status" | "show-session" | "show-user" | "show-seat"
        ),
        // A variable by name prints its value alone, which masking cannot tell (red-team round
        // 84: `printenv DB_PASSWORD` in a pod whose Secret fills it).
        "printenv" => args.iter().all(|a| a.starts_with('-')),
        // `ps e` (BSD style, in any cluster: `eww`, `auxe`) prints each process's environment,
        // which a pipe then reshapes past masking as `/proc/*/environ` would be (red-team round
        // 89: `ps eww -p PID | cut -d= -f2`). `-e` (all processes) is another option.
        "ps" => !args.iter().any(|a| !a.starts_with('-') && a.contains('e') && a.chars().all(|c| c.is_ascii_alphabetic())),
        // The shadow databases are /etc/shadow and /etc/gshadow, read by name (round 89:
        // `getent shadow root`): see `shell.rs`, which reads them as those files.
        // jq's own reads: the environment (`$ENV`, `env`) and modules from its search path
        // (`import "config" as $c {search: "~/.docker"}`, `-L DIR`), which name no file on
        // the command line (round 84).
        "jq" => !args.iter().any(|a| {
            let word = |w: &str| a.match_indices(w).any(|(i, _)| {
                let before = a.get(..i).and_then(|b| b.chars().last());
                let after = a.get(i + w.len()..).and_then(|r| r.chars().next());
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            a.contains("$ENV") || a.contains("$__loc__") || word("env") || word("import") || word("include") || word("input_filename") || a.starts_with("-L") || a.starts_with("--library-path")
        }),
        // `dmesg`, `journalctl` and `man` start a pager only on a terminal, whose lines are
        // read; `openssl` engines are modelled in `runs_code`.
        _ => true,
    }
}

/// Programs that rewrite every byte they print or the layout of a line: what they print of a
/// value is never the value.
/// (`split`, `csplit`: pieces that `tail -n +1 a b c` prints with a header between them;
/// `colrm`: columns taken out of every line.)
const RESHAPERS: &[&str] = &["fold", "od", "xxd", "hexdump", "hd", "rev", "tr", "base32", "basenc", "uuencode", "iconv", "dd", "rot13", "caesar", "split", "csplit", "colrm"];

/// How `program` run with `args` reshapes what it prints (`fold`, `cut -c`, `sed s`), when it
/// does: a value in a file it prints is then no longer the text masking searches for (red-team
/// round 91: `fold -w3`, `od -c`, `tr a-z A-Z`, `cut -c`, `grep -o`, `head -c` printed a copy
/// of a Kubernetes Secret's value in pieces). So does a printer steered by a pattern the
/// command gives, whose output says whether a line matches it, masked or not (SSH red-team
/// round 101: `nl -b 'p^DB_PASSWORD.S' .env` numbered the line when the guess was right).
pub(crate) fn reshapes(program: &str, args: &[String]) -> Option<String> {
    let short = |letters: &[char]| args.iter().any(|a| short_cluster_has(a, letters));
    // A long option by any prefix of its name, as getopt_long takes it (`head --by=9`: red-team
    // round 92); an ambiguous prefix, which the program refuses, counts too.
    let long = |names: &[&str]| {
        args.iter().filter_map(|a| a.strip_prefix("--")).map(|a| a.split('=').next().unwrap_or_default()).any(|given| !given.is_empty() && names.iter().any(|n| n.trim_start_matches('-').starts_with(given)))
    };
    let how = match program {
        p if RESHAPERS.contains(&p) => program.to_string(),
        // Decoding gives back what was encoded, which masking then reads.
        "base64" if !short(&['d']) && !long(&["--decode"]) => program.to_string(),
        "grep" | "egrep" | "fgrep" | "rg" if short(&['o']) || long(&["--only-matching"]) => format!("{program} -o"),
        // (Even `tail -c +1`, which prints all of it, unless a later `-c N` takes its place:
        // red-team round 93.)
        "head" | "tail" if short(&['c']) || long(&["--bytes"]) => format!("{program} -c"),
        // Bytes past ASCII and control characters as `M-x` and `^X` (round 93: `cat -v` printed
        // a value with an `é` past masking).
        "cat" if short(&['v', 'A', 'e', 't']) || long(&["--show-nonprinting", "--show-all", "--show-tabs"]) => format!("{program} -v"),
        "nl" if nl_matches_pattern(args) => format!("{program} -b p"),
        // A magic file of the caller's prints what its tests find, from any offset and without
        // the name masking reads a value by (SSH red-team round 102: `file -m m.txt .env` printed
        // `VAL[password]`).
        "file" if short(&['m']) || long(&["--magic-file"]) => format!("{program} -m"),
        // Shown from the first line that matches (`+/re`, `-p re`): where it starts tells.
        "less" | "more" | "zless" | "most" if args.iter().any(|a| a.starts_with('+') || (a.starts_with("-p") && !a.starts_with("--")) || a.starts_with("--pat")) => format!("{program} +/"),
        "cut" if short(&['c', 'b']) || long(&["--characters", "--bytes"]) => format!("{program} -c"),
        "tac" if short(&['b', 'r', 's']) || long(&["--before", "--regex", "--separator"]) => format!("{program} -s"),
        "sed" if sed_rewrites(args) => format!("{program} s"),
        // Each differing byte in octal or as a character (`cmp -l f /dev/zero`).
        "cmp" if short(&['l', 'b']) || long(&["--verbose", "--print-bytes"]) => format!("{program} -l"),
        // Lines cut to a page's width.
        "pr" if short(&['W', 'w']) || long(&["--page-width", "--width"]) => format!("{program} -W"),
        "jq" | "gojq" | "yq" if jq_rewrites(args) => format!("{program} (string functions)"),
        "awk" | "gawk" | "mawk" | "nawk" if awk_rewrites(args) => format!("{program} (string functions)"),
        _ => return None,
    };
    Some(how)
}

/// Whether `nl` numbers lines by a pattern (`-b pRE`, `-h pRE`, `-f pRE`,
/// `--body-numbering=pRE`) or breaks sections at a delimiter (`-d`), which is a test of each
/// line too.
fn nl_matches_pattern(args: &[String]) -> bool {
    let mut words = args.iter().take_while(|a| a.as_str() != "--");
    while let Some(a) = words.next() {
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v)));
            let is = |full: &str| !name.is_empty() && full.starts_with(name);
            if is("section-delimiter") {
                return true;
            }
            if ["body-numbering", "header-numbering", "footer-numbering"].iter().any(|n| is(n)) {
                let value = value.map(str::to_string).or_else(|| words.next().cloned()).unwrap_or_default();
                if value.starts_with('p') {
                    return true;
                }
            }
        } else if let Some(cluster) = a.strip_prefix('-') {
            // The first letter that takes a value takes the rest of the word, or the next one.
            if let Some(i) = cluster.find(['b', 'h', 'f', 'd', 'i', 'l', 'n', 's', 'v', 'w']) {
                let letter = cluster.as_bytes().get(i).copied().unwrap_or_default();
                let rest = cluster.get(i + 1..).unwrap_or_default();
                let value = if rest.is_empty() { words.next().cloned().unwrap_or_default() } else { rest.to_string() };
                if letter == b'd' || (matches!(letter, b'b' | b'h' | b'f') && value.starts_with('p')) {
                    return true;
                }
            }
        }
    }
    false
}

/// cp's short options that take an argument (the rest of a cluster, or the next word).
const CP_WITH_ARG: &str = "StT";

/// rsync's short options that take an argument (`-e` carries the server's protocol flags).
const RSYNC_WITH_ARG: &str = "eBfTM";

/// How a command makes links or copies links as links, if it does (`ln`, `cp -s`, `cp -d`,
/// `cp -r`, `rsync -l`, `cpio -p`): a link made now changes what a path means later, and a
/// relative one copied elsewhere names other files at its new place (red-team SSH round 91: an
/// approved `cp -d` of a host's `Release -> ..` into `~/x/R` made `~/x/R/.popt` the home's
/// `.popt`, which later commands wrote unreviewed).
pub(crate) fn links(program: &str, args: &[String]) -> Option<String> {
    use super::shell::short_given;
    let options = || args.iter().take_while(|a| a.as_str() != "--").filter(|a| a.starts_with('-') && a.len() > 1);
    // A long option by any prefix of one of `names`, as getopt_long takes it.
    let long = |a: &str, names: &[&str]| names.iter().any(|n| super::shell::long(a, &format!("--{n}")));
    let how = match program {
        "ln" | "link" => program.to_string(),
        "cp" => {
            // Whether links are followed is the last of `-L` (always), `-H` (those named on the
            // command line only), and `-P`/`-d`/`-a` (never), letter by letter as getopt reads
            // them (red-team SSH round 92: `cp -r -L -H` copies the links inside a tree as
            // links); unset, a recursive copy keeps them.
            #[derive(Clone, Copy, PartialEq)]
            enum Deref {
                Always,
                CommandLine,
                Never,
            }
            let (mut deref, mut recursive) = (None, false);
            for a in options() {
                if long(a, &["symbolic-link", "link"]) {
                    return Some(format!("{program} {a}"));
                }
                if long(a, &["dereference"]) {
                    deref = Some(Deref::Always);
                } else if long(a, &["no-dereference"]) {
                    deref = Some(Deref::Never);
                } else if long(a, &["archive"]) {
                    (deref, recursive) = (Some(Deref::Never), true);
                } else if long(a, &["recursive"]) {
                    recursive = true;
                } else if !a.starts_with("--") {
                    for c in a.chars().skip(1) {
                        match c {
                            's' | 'l' => return Some(format!("{program} -{c}")),
                            'L' => deref = Some(Deref::Always),
                            'H' => deref = Some(Deref::CommandLine),
                            'P' | 'd' => deref = Some(Deref::Never),
                            'a' => (deref, recursive) = (Some(Deref::Never), true),
                            'r' | 'R' => recursive = true,
                            // The rest of the word is the argument of these.
                            c if CP_WITH_ARG.contains(c) => break,
                            _ => {}
                        }
                    }
                }
            }
            let keeps = match deref {
                Some(Deref::Never) => true,
                Some(Deref::Always) => false,
                Some(Deref::CommandLine) | None => recursive,
            };
            if !keeps {
                return None;
            }
            format!("{program} (links kept as links)")
        }
        "rsync" => {
            // A download's links land on the client's side.
            if args.iter().any(|a| a == "--sender") {
                return None;
            }
            // A cluster's letters up to one that takes the rest as its value (`-e`: the
            // server's `-lre.iLsfxCIvu` carries its protocol flags there).
            let keeps = options().any(|a| long(a, &["links", "archive"]) || short_given(a, &['l', 'a'], RSYNC_WITH_ARG));
            // Links copied as files, or those leaving the tree skipped or copied as files.
            let follows = options().any(|a| long(a, &["copy-links", "copy-unsafe-links", "safe-links", "no-links"]) || short_given(a, &['L'], RSYNC_WITH_ARG));
            if !keeps || follows {
                return None;
            }
            format!("{program} -l")
        }
        "cpio" if options().any(|a| long(a, &["pass-through"]) || (!a.starts_with("--") && short_cluster_has(a, &['p']))) => {
            if options().any(|a| long(a, &["dereference"]) || (!a.starts_with("--") && short_cluster_has(a, &['L']))) {
                return None;
            }
            format!("{program} -p")
        }
        _ => return None,
    };
    Some(how)
}

/// How a command makes a set-user-ID or set-group-ID file, if it does (`chmod u+s`, `chmod
/// 4755`, `install -m 4755`, `mkdir -m 2775`, a mode copied with `chmod --reference`): a program
/// that runs with its owner's privileges, whoever runs it (red-team Kubernetes round 102:
/// `chmod +s FILE` in a pod made a set-user-ID root program unreviewed).
pub(crate) fn sets_id(program: &str, args: &[String]) -> Option<String> {
    let words: Vec<&str> = args.iter().take_while(|a| a.as_str() != "--").map(String::as_str).collect();
    let after: Vec<&str> = args.iter().skip_while(|a| a.as_str() != "--").skip(1).map(String::as_str).collect();
    match program {
        "chmod" => {
            if words.iter().any(|a| a.starts_with("--reference") || a.starts_with("--ref")) {
                return Some(format!("{program} --reference"));
            }
            // The mode is the first word that is not one of chmod's own options (`-w`, `-s`
            // and `-rwx` are modes: chmod reads them so), or the first after `--`.
            let own = |a: &str| a.starts_with("--") || (a.starts_with('-') && a.len() > 1 && a[1..].chars().all(|c| "cfvR".contains(c)));
            let mode = words.iter().copied().find(|a| !own(a)).or_else(|| after.first().copied())?;
            mode_sets_id(mode).then(|| format!("{program} {mode}"))
        }
        // A copy that keeps modes, of a system program (or a tree holding them): `passwd`,
        // `su`, `mount` are set-user-ID root, and so is the copy when root makes it (red-team
        // Kubernetes round 103: `cp -p /usr/bin/passwd /tmp/x`, then `cp /bin/sh /tmp/x` over
        // it, made a root shell). Modes kept: `cp -p`/`-a`/`--preserve[=mode|all]`, `rsync
        // -p`/`-a`/`--perms`.
        "cp" | "rsync" => {
            // rsync's `--chmod` sets modes on what it writes (red-team SSH round 93:
            // `rsync -p --chmod=u+s /bin/bash ~/x` made a set-user-ID shell), `D`/`F` naming
            // directories or files.
            if program == "rsync" {
                let mut it = words.iter().copied();
                while let Some(a) = it.next() {
                    let value = if a == "--chmod" { it.next() } else { a.strip_prefix("--chmod=") };
                    if let Some(v) = value.filter(|v| v.split(',').any(|c| mode_sets_id(c.trim_start_matches(['D', 'F'])))) {
                        return Some(format!("{program} --chmod={v}"));
                    }
                }
            }
            let keeps_modes = keeps_modes(program, args).is_some();
            let sources = words.iter().chain(after.iter()).copied().filter(|a| !a.starts_with('-'));
            let system = sources.into_iter().find(|a| system_programs(a))?;
            keeps_modes.then(|| format!("{program} (modes kept) {system}"))
        }
        "install" | "mkdir" | "mkfifo" | "mknod" => {
            let mut it = words.iter().copied();
            while let Some(a) = it.next() {
                let mode = if a == "-m" || a == "--mode" {
                    it.next()
                } else if let Some(m) = a.strip_prefix("--mode=") {
                    Some(m)
                } else if a.starts_with('-') && !a.starts_with("--") {
                    // `-m` in a cluster takes the rest of the word, or the next one.
                    let c = &a[1..];
                    match c.find('m') {
                        Some(at) if at + 1 < c.len() => c.get(at + 1..),
                        Some(_) => it.next(),
                        None => None,
                    }
                } else {
                    None
                };
                if let Some(m) = mode.filter(|m| mode_sets_id(m)) {
                    return Some(format!("{program} -m {m}"));
                }
            }
            None
        }
        _ => None,
    }
}

/// How a command copies files keeping their modes, if it does (`cp -p`, `cp -a`,
/// `--preserve=mode|all`, `rsync -p`/`-a`/`--perms`): a set-ID source stays set-ID in its
/// copy, and a source reached through a link (one a review let the agent make, or one in the
/// image) may be a system program whatever its path says (red-team SSH round 95, Kubernetes
/// round 105). Held for review, the reviewer told so.
pub(crate) fn keeps_modes(program: &str, args: &[String]) -> Option<String> {
    let words: Vec<&str> = args.iter().take_while(|a| a.as_str() != "--").map(String::as_str).collect();
    match program {
        "cp" | "rsync" => {
            let with_arg = if program == "rsync" { RSYNC_WITH_ARG } else { CP_WITH_ARG };
            let keeps = words.iter().any(|a| {
                super::shell::short_given(a, &['p', 'a'], with_arg)
                    || a.starts_with("--arc")
                    || (program == "rsync" && a.starts_with("--perm"))
                    || (program == "cp" && a.starts_with("--pres") && a.split_once('=').is_none_or(|(_, list)| list.split(',').any(|l| l == "mode" || l == "all")))
            });
            // (A download's modes are the client's side.)
            let download = program == "rsync" && args.iter().any(|a| a == "--sender");
            (keeps && !download).then(|| format!("{program} (modes kept)"))
        }
        // Compressors that give what they write the mode of what they read, set-ID bits too
        // (red-team Kubernetes round 106: `lz4` then `lz4 -d` of `su` through a link made a
        // set-user-ID root copy); gzip refuses set-ID input, bzip2, xz and zstd drop the bits.
        "lz4" | "unlz4" | "lz4cat" | "lzop" | "pigz" | "unpigz" | "pbzip2" | "brotli" | "lzip" | "plzip" => Some(format!("{program} (modes kept)")),
        _ => None,
    }
}

/// Whether `path` is (or holds) where systems keep their programs, set-ID ones among them; a
/// relative `usr/…` is read from `/` too (a container's working directory often is; a
/// project's own `bin/` is not taken for the system's).
fn system_programs(path: &str) -> bool {
    const DIRS: &[&str] = &["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec", "/lib", "/lib64", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/opt", "/snap", "/etc/alternatives"];
    let p = path.trim_start_matches("./");
    let rooted = if p.starts_with('/') {
        p.to_string()
    } else if p == "usr" || p.starts_with("usr/") {
        format!("/{p}")
    } else {
        return false;
    };
    // Read as the kernel reads it (red-team SSH round 94 and Kubernetes round 104: `//usr/bin`,
    // `/usr/./bin`, `/usr//bin` passed): and anything through `/proc` (`/proc/self/root/usr/bin/su`)
    // may be anything.
    let rooted = super::normalise_path(&rooted);
    if rooted == "/proc" || rooted.starts_with("/proc/") {
        return true;
    }
    let rooted = rooted.trim_end_matches('/');
    matches!(rooted, "" | "/usr" | "/usr/local") || DIRS.iter().any(|d| rooted == *d || rooted.strip_prefix(d).is_some_and(|rest| rest.starts_with('/')))
}

/// Whether a mode as chmod reads it sets the set-user-ID or set-group-ID bit: octal with 4000
/// or 2000 in it, or a symbolic clause adding or setting `s` (a copy of another class's bits,
/// `g=u`, does not carry them).
fn mode_sets_id(mode: &str) -> bool {
    let octal = |m: &str| !m.is_empty() && m.chars().all(|c| c.is_digit(8)) && u32::from_str_radix(m, 8).is_ok_and(|v| v & 0o6000 != 0);
    if octal(mode) {
        return true;
    }
    mode.split(',').any(|clause| {
        let ops = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        let mut adding = false;
        for (i, c) in ops.char_indices() {
            match c {
                '+' | '=' => {
                    adding = true;
                    // `=4755`, `+2000`: an operator then octal digits.
                    let rest: String = ops[i + 1..].chars().take_while(|c| c.is_ascii_digit()).collect();
                    if octal(&rest) {
                        return true;
                    }
                }
                '-' => adding = false,
                's' if adding => return true,
                _ => {}
            }
        }
        false
    })
}

/// Whether a jq program among `args` reads raw text or takes strings apart (`explode`,
/// `split`, slices, `ascii_downcase`, `@base32`, `sub`, …).
fn jq_rewrites(args: &[String]) -> bool {
    const STRING_OPS: &[&str] = &["explode", "implode", "split", "ascii", "sub(", "@", "ltrimstr", "rtrimstr", "test(", "match(", "capture(", "scan(", "join", "tojson", "tostring", "trim", "indices", "index("];
    // A slice (`.pw[2:]`, `.[:3]`), which cuts a string; `.items[]` and `.[0]` do not.
    let slice = |a: &str| a.split('[').skip(1).any(|rest| rest.split(']').next().is_some_and(|inside| inside.contains(':')));
    args.iter().any(|a| a == "-R" || a == "--raw-input" || (a.starts_with('-') && !a.starts_with("--") && a.contains('R')))
        || args.iter().any(|a| !a.starts_with('-') && (slice(a) || STRING_OPS.iter().any(|o| a.contains(o))))
}

/// Whether a sed script among `args` substitutes or transliterates (`s/…/…/`, `y/…/…/`): either
/// can change any byte of a value.
fn sed_rewrites(args: &[String]) -> bool {
    args.iter().filter(|a| !a.starts_with('-') || a.len() > 2).any(|script| {
        let b = script.as_bytes();
        b.iter().enumerate().any(|(i, c)| {
            let command = matches!(c, b's' | b'y') || (*c == b'l' && b.get(i + 1).is_none_or(|n| matches!(n, b';' | b'}' | b'\n' | b' ' | b'0'..=b'9')));
            let starts = i == 0 || matches!(b.get(i - 1), Some(b';' | b'{' | b'}' | b'\n' | b' ' | b'\t' | b'/' | b'$' | b'!' | b'0'..=b'9'));
            let delimiter = b.get(i + 1).is_some_and(|d| !d.is_ascii_alphanumeric() && !d.is_ascii_whitespace() && *d != b'\\');
            command && starts && (delimiter || *c == b'l')
        })
    })
}

/// Whether an awk program among `args` takes strings apart or rebuilds them (`substr`,
/// `toupper`, `split`, `gsub`, `printf "%c"`, …) or splits records into characters (`-F ''`).
fn awk_rewrites(args: &[String]) -> bool {
    const FUNCTIONS: &[&str] = &["substr", "toupper", "tolower", "split", "gsub", "sub(", "sprintf", "printf", "index", "match", "length", "%c", "gensub", "patsplit", "strtonum", "FS", "OFS", "FIELDWIDTHS", "FPAT", "RS"];
    let empty_separator = args.windows(2).any(|w| w.first().is_some_and(|f| f == "-F") && w.get(1).is_some_and(|s| s.is_empty() || s == "''" || s == "\"\""))
        || args.iter().any(|a| a == "-F''" || a == "-F\"\"");
    empty_separator || args.iter().any(|a| FUNCTIONS.iter().any(|f| a.contains(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn everyday_reads_are_listed_and_other_programs_are_not() {
        for (p, a) in [("ls", "-la /tmp"), ("systemctl", "status nginx"), ("systemctl", ""), ("dpkg", "-l"), ("apt", "list --installed"), ("curl", "-s https://x.example"), ("ip", "addr"), ("ip", "-br a"), ("ip", "route get 1.1.1.1"), ("ip", "-j link show dev eth0"), ("printenv", ""), ("ps", "aux"), ("ps", "-ef"), ("ps", "-eo pid,args"), ("jq", ".items[].metadata.name"), ("jq", "-r .environment"), ("date", "-Iseconds"), ("awk", "{print $1}"), ("timedatectl", "status"), ("hostnamectl", ""), ("loginctl", "list-sessions"), ("date", "-u +%s"), ("dmesg", "-T"), ("hostname", "-f"), ("wget", "-q -O - --continue https://x.example"), ("wget", "-Oindex.html https://x.example"), ("curl", "-sS --compressed https://x.example")] {
            assert!(listed(p, &argv(a)), "{p} {a}");
        }
        for (p, a) in [
            ("choom", "-n 0 -- python3 -c x"),
            ("systemctl", "edit nginx"),
            ("systemctl", "link /tmp/x.service"),
            ("systemctl", "set-environment LD_PRELOAD=/tmp/x.so"),
            ("systemctl", "-H host status"),
            ("dpkg", "-i x.deb"),
            ("apt", "install x"),
            ("curl", "-K /tmp/cfg"),
            ("curl", "-K/tmp/cfg"),
            ("wget", "-e output_document=.bashrc https://x.example"),
            // Round 45: getopt_long's abbreviations and short clusters.
            ("wget", "--conf=/tmp/w https://x.example"),
            ("wget", "--confi /tmp/w https://x.example"),
            ("wget", "--use-askp=/tmp/s.sh https://x.example"),
            ("wget", "--use-a /tmp/s.sh https://x.example"),
            ("wget", "-qe use_askpass=/tmp/s.sh https://x.example"),
            ("curl", "-sK /tmp/cfg https://x.example"),
            ("curl", "--conf /tmp/cfg https://x.example"),
            ("ip", "netns exec n python3"),
            // Red-team round 84: ip takes any prefix of a word; printenv and jq read values
            // no file names.
            ("ip", "netns e n sh"),
            ("ip", "netns exe n sh"),
            ("ip", "--batch /tmp/cmds"),
            ("ip", "--b -"),
            ("ip", "link set eth0 down"),
            ("ip", "route del default"),
            ("ip", "netns add x"),
            ("printenv", "DB_PASSWORD"),
            ("dmesg", "-C"),
            // Round 89.
            ("ps", "eww -p 1"),
            ("ps", "auxe"),
            // Round 85.
            ("kill", "-9 -1"),
            ("kill", "-0 -1"),
            ("pkill", "-0 -x sshd"),
            ("killall", "-0 x"),
            ("awk", r#"BEGIN{print ENVIRON["DB_PASSWORD"]}"#),
            ("mawk", "BEGIN{for (k in ENVIRON) print ENVIRON[k]}"),
            ("timedatectl", "set-time 2030-01-01"),
            ("hostnamectl", "set-hostname x"),
            ("hostnamectl", "hostname x"),
            ("loginctl", "kill-user root"),
            ("ss", "-K dst 10.0.0.1"),
            ("hostname", "-F /tmp/h"),
            ("hostname", "evil"),
            ("date", "-s 2030-01-01"),
            ("date", "-us 2030-01-01"),
            ("jq", "-n $ENV.DB_PASSWORD"),
            ("jq", "-n env|to_entries"),
            ("jq", r#"-n import "config" as $c {search:"/root/.docker"}; $c"#),
            ("jq", "-L /root/.docker -n ."),
            ("rg", "--pre ./x pattern"),
            ("link", "a b"),
            ("less", "--lesskey-src=/tmp/k f"),
            ("git", "status"),
        ] {
            assert!(!listed(p, &argv(a)), "{p} {a}");
        }
    }
}
