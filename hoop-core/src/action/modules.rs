//! Files an interpreter imports from a command's directory before its own library: one
//! written under such a name is code a later command runs unseen (SSH red-team round 98: a
//! `json.py` copied into the login directory ran inside a reviewed `python3 -c 'import json'`).

/// Python's standard modules (3.11's `sys.stdlib_module_names`, without the private ones and the
/// test suite's): `python3 -c`, `-m` and a script put their directory first on `sys.path`.
const PYTHON_STANDARD: &[&str] = &[
    "abc", "aifc", "argparse", "array", "ast", "asynchat", "asyncio", "asyncore", "atexit",
    "audioop", "base64", "bdb", "binascii", "bisect", "builtins", "bz2", "cProfile", "calendar",
    "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs", "codeop", "collections", "colorsys",
    "compileall", "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg",
    "crypt", "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal", "difflib",
    "dis", "distutils", "doctest", "email", "encodings", "ensurepip", "enum", "errno",
    "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools",
    "gc", "genericpath", "getopt", "getpass", "gettext", "glob", "graphlib", "grp", "gzip",
    "hashlib", "heapq", "hmac", "html", "http", "imaplib", "imghdr", "imp", "importlib", "inspect",
    "io", "ipaddress", "itertools", "json", "keyword", "lib2to3", "linecache", "locale", "logging",
    "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap", "modulefinder", "msilib",
    "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath", "nturl2path",
    "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle",
    "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix", "posixpath",
    "pprint", "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data",
    "pyexpat", "queue", "quopri", "random", "re", "readline", "reprlib", "resource", "rlcompleter",
    "runpy", "sched", "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal",
    "site", "smtpd", "smtplib", "sndhdr", "socket", "socketserver", "spwd", "sqlite3",
    "sre_compile", "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string",
    "stringprep", "struct", "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog",
    "tabnanny", "tarfile", "telnetlib", "tempfile", "termios", "textwrap", "threading", "time",
    "timeit", "tkinter", "token", "tokenize", "tomllib", "trace", "traceback", "tracemalloc",
    "tty", "turtle", "types", "typing", "unicodedata", "unittest", "urllib", "uu", "uuid", "venv",
    "warnings", "wave", "weakref", "webbrowser", "winreg", "winsound", "wsgiref", "xdrlib", "xml",
    "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib", "zoneinfo",
];

/// Whether writing `path` plants a module a later interpreter imports in place of its own:
/// `NAME.py` or `NAME/__init__.py` for a standard Python module, `sitecustomize.py` or
/// `usercustomize.py` anywhere, or a `.pth` file (each line naming a path or running code).
pub fn plants_module(path: &str) -> bool {
    // Node.js `require` looks in `node_modules` of the directory and its parents first (SSH
    // red-team round 99: `node -e 'require("lodash")'`, approved, ran a planted one).
    if path.starts_with("node_modules/") || path.contains("/node_modules/") {
        return true;
    }
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or(path);
    if name.ends_with(".pth") && name.len() > 4 {
        return true;
    }
    // Source, compiled (`json.pyc`, imported without its source) or an extension module
    // (`json.cpython-311-x86_64-linux-gnu.so`): SSH red-team round 100 planted both.
    let Some((stem, ext)) = name.split_once('.') else { return false };
    if !["py", "pyc", "pyo", "so", "pyd"].iter().any(|e| name.rsplit('.').next() == Some(e)) || ext.is_empty() {
        return false;
    }
    let module = match stem {
        "__init__" => parts.next().unwrap_or_default(),
        m => m,
    };
    matches!(module, "sitecustomize" | "usercustomize") || PYTHON_STANDARD.contains(&module)
}

/// Programs that move or copy files and directories under names their operands give.
const MOVERS: &[&str] = &["mv", "cp", "rsync", "install", "ln", "link", "rename"];

/// Whether `path` names, by its last component, a directory an interpreter imports as a
/// module of its own: a standard Python module's package (`json/`, with an `__init__.py` in
/// it), `sitecustomize`, or `node_modules`.
pub fn names_module_dir(path: &str) -> bool {
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    matches!(name, "node_modules" | "sitecustomize" | "usercustomize") || PYTHON_STANDARD.contains(&name)
}

/// The operands of the moves and copies among `commands` that name such a directory: a
/// package made elsewhere and moved into place writes no file by a name the reader sees (SSH
/// red-team round 101: `mv app/jx json` planted `json/__init__.py`, `mv app2/nm node_modules`
/// a `lodash`). Sources too, whose names a move into a directory keeps (`mv app/json .`).
pub fn moved_modules(commands: &[Vec<String>]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| c.first().is_some_and(|p| MOVERS.contains(&p.as_str())))
        .flat_map(|c| c.iter().skip(1).filter(|a| !a.starts_with('-') && names_module_dir(a)).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_module_names_are_plants() {
        for p in ["json.py", "/home/web/json.py", "app/re.py", "http/__init__.py", "/tmp/x/sitecustomize.py", "lib/evil.pth", "node_modules/lodash/index.js", "/srv/app/node_modules/x", "json.pyc", "json.cpython-311-x86_64-linux-gnu.so", "http/__init__.pyc"] {
            assert!(plants_module(p), "{p}");
        }
        for p in ["main.py", "test.py", "json.txt", "jsonpy", "notes/__init__.py", ".pth", "app/helpers.py", "libfoo.so", "json", "json.pyx"] {
            assert!(!plants_module(p), "{p}");
        }
    }

    #[test]
    fn packages_moved_into_place_are_plants() {
        let line = |l: &str| l.split(' ').map(str::to_string).collect::<Vec<_>>();
        for c in ["mv app/jx json", "mv app/jx app/json/", "mv -t . app/json", "cp -r pkg/collections .", "rsync -a nm/ node_modules/", "mv app2/nm node_modules"] {
            assert!(!moved_modules(&[line(c)]).is_empty(), "{c}");
        }
        for c in ["mkdir json", "mv a b", "cp -r html2 www", "touch node_modules"] {
            assert!(moved_modules(&[line(c)]).is_empty(), "{c}");
        }
    }
}
