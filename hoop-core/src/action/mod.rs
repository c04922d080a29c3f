//! What a caller wants to do, in one protocol-neutral shape.
//!
//! Every [`Action`] has every section present (empty where it does not apply), so a rule
//! written for SQL evaluates cleanly, to `false`, on an SSH or Kubernetes action instead of
//! erroring on a missing field.

pub mod archive;
mod credentials;
mod getopt;
mod growth;
pub mod lineage;
mod modules;
mod parser;
mod programs;
mod raises;
pub mod script;
mod shell;
pub mod sql;
mod tokens;
mod versions;
mod wrappers;
pub mod typed;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why an archive extractor (`tar -x`, `unzip`, `cpio -i`) is held like an interpreter: the
/// names of the files it writes are inside its archive, not on its command line.
pub const WRITES_ARCHIVE_NAMES: &str = "it writes files named inside an archive";

/// Which kind of action this is; selects the section that carries the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Opening a session to a target.
    #[default]
    Connect,
    /// A SQL statement (or several, sent together).
    Sql,
    /// A command run without a terminal (`ssh host cmd`, `kubectl exec -- cmd`).
    Exec,
    /// An interactive shell.
    Shell,
    /// Reading or writing a file (sftp, scp).
    FileTransfer,
    /// A port forward or agent forward.
    Forward,
    /// A Kubernetes API request.
    K8s,
    /// An environment variable the client asks to set for what runs on the host (SSH `env`).
    Env,
    /// A request for a fresh credential (Kubernetes `serviceaccounts/token`).
    Token,
}

impl ActionKind {
    /// Every kind, for trying rules against a sample of each.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::Connect,
        ActionKind::Sql,
        ActionKind::Exec,
        ActionKind::Shell,
        ActionKind::FileTransfer,
        ActionKind::Forward,
        ActionKind::K8s,
        ActionKind::Env,
        ActionKind::Token,
    ];

    /// The snake_case name CEL rules compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Connect => "connect",
            ActionKind::Sql => "sql",
            ActionKind::Exec => "exec",
            ActionKind::Shell => "shell",
            ActionKind::FileTransfer => "file_transfer",
            ActionKind::Forward => "forward",
            ActionKind::K8s => "k8s",
            ActionKind::Env => "env",
            ActionKind::Token => "token",
        }
    }
}

/// One operation a caller asks for, checked by policy before it reaches the upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// Which section below carries the detail.
    pub kind: ActionKind,
    /// The target (named upstream) the action is for.
    pub target: String,
    /// Session opening: client address and protocol startup parameters.
    #[serde(skip_serializing_if = "is_default")]
    pub connect: Connect,
    /// SQL statements.
    #[serde(skip_serializing_if = "is_default")]
    pub sql: Sql,
    /// Command execution (also filled for a shell: the interpreter, if known).
    #[serde(skip_serializing_if = "is_default")]
    pub exec: Exec,
    /// File transfer.
    #[serde(skip_serializing_if = "is_default")]
    pub file_transfer: FileTransfer,
    /// Port or agent forwarding.
    #[serde(skip_serializing_if = "is_default")]
    pub forward: Forward,
    /// Kubernetes API request (also a token request's detail).
    #[serde(skip_serializing_if = "is_default")]
    pub k8s: K8s,
    /// Environment variable.
    #[serde(skip_serializing_if = "is_default")]
    pub env: Env,
    /// What the caller did lately, filled in by the gate before rules see the action (CEL
    /// `usage`); not stored.
    #[serde(skip)]
    pub usage: crate::usage::Usage,
    /// What the action's result returned so far, filled in at its checkpoints (CEL `result`);
    /// not stored.
    #[serde(skip)]
    pub result: crate::usage::ResultSoFar,
    /// Why a reviewer would not see this action whole, as the adapter that shows it knows (a
    /// Kubernetes body masked, cut or not JSON): held, it is refused instead. Not stored.
    #[serde(skip)]
    pub unshown: Option<String>,
}

/// Environment variable detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Env {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl Blank for Env {
    fn is_blank(&self) -> bool {
        self.name.is_empty() && self.value.is_empty()
    }
}

/// Session opening detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Connect {
    /// The client's address, `ip:port`, or empty when unknown.
    pub client_addr: String,
    /// Protocol startup parameters (Postgres startup packet, SSH env, ...).
    pub params: BTreeMap<String, String>,
}

/// SQL detail, from a real SQL parser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sql {
    /// The statement text as sent.
    pub text: String,
    /// Lowercase kinds of every statement, nested ones included
    /// (`with d as (delete ...) select` gives `["select", "delete"]`); `unknown` when unreadable.
    pub kinds: Vec<String>,
    /// Every table read or written, at any depth, lowercase, as written (`users`, `public.users`).
    pub tables: Vec<String>,
    /// Every function called, lowercase, as written (`pg_read_file`, `pg_catalog.set_config`).
    pub functions: Vec<String>,
    /// Whether every `UPDATE`/`DELETE` in the text has a `WHERE` clause
    /// (for reads: whether the outermost query filters).
    pub has_where: bool,
    /// Whether the parser read the text; `false` means `kinds == ["unknown"]`.
    pub parsed: bool,
    /// `to` or `from` for a `COPY`, empty otherwise.
    // Fields at their default are left out of records (read back as the default): most
    // statements are not COPYs and have no parameters, and every record byte is hashed and written.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub copy: String,
    /// Whether a `COPY` reads from or writes to a server-side program.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub copy_program: bool,
    /// Bound parameters (masked before recording); `null` for SQL NULL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Option<String>>,
    /// What the text runs by name, as first sent: the statement `EXECUTE p` runs, the query a
    /// `FETCH … FROM c` reads. A reviewer and the recording see what runs, not only its name
    /// (red-team round 27: a ticket for `execute p` showed nothing of `p`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
    /// The rows a `COPY … FROM STDIN` sends, as text, when the gateway gathered them before
    /// asking a reviewer: the rows are what the statement writes, so the reviewer sees them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_rows: Option<String>,
    /// The relations the text's writes change (the target of `INSERT`, `UPDATE`, `DELETE`,
    /// `MERGE`, `COPY … FROM`), lowercase, as written: whose foreign keys a write checks.
    /// The gateway's own; not recorded, not seen by rules.
    #[serde(skip)]
    pub written: Vec<String>,
    /// The names the text's `WITH` clauses define, lowercase: a reference to one that no
    /// stored relation answers to reads the CTE, not a table. The gateway's own, like `written`.
    #[serde(skip)]
    pub ctes: Vec<String>,
}

/// Command execution detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exec {
    /// The command line as sent.
    pub command: String,
    /// The first command as the program receives it, its name resolved (`/bin/sh` is `sh`).
    pub argv: Vec<String>,
    /// Every simple command the line runs, in order, each as such an argv (`sh -c` programs,
    /// wrapped commands and `find -exec` commands included).
    pub commands: Vec<Vec<String>>,
    /// Every program that runs, wrappers (`sudo`, `env`) and what they wrap included.
    pub programs: Vec<String>,
    /// Path arguments and redirection targets, lexically normalised (`/etc/../etc/x` is
    /// `/etc/x`).
    pub paths: Vec<String>,
    /// The paths the line may write, normalised likewise: redirection targets, what `tee`,
    /// `dd of=`, a copy's destination or `install -d` write, and every path argument of a
    /// program hoop does not know to only read its operands (more than it writes, never less).
    pub writes: Vec<String>,
    /// Why the line cannot be known from its text (variables, substitutions, globs, `eval`,
    /// `cd` before more commands, …); empty when it can.
    pub unreadable: String,
    /// An interpreter whose program hoop cannot read (`bash -s`, `python3 -c`, a script
    /// file), with why; empty when there is none.
    pub interpreter: String,
    /// A pipeline feeds another command's output to an interpreter (`curl … | sh`).
    pub pipes_to_interpreter: bool,
    /// Programs hoop does not know, so cannot tell from their arguments what they run (see
    /// the list of known ones in `action/programs.rs`).
    pub unlisted: Vec<String>,
    /// Programs of the line that rewrite what they print byte by byte or cut it inside its
    /// lines (`fold`, `tr`, `od`, `rev`, `cut -c`, `grep -o`, `sed s/…/`, …): a value they print
    /// is no longer the text masking searches for (see `action/programs.rs`).
    pub reshapes: Vec<String>,
    /// Programs of the line that make links or copy links as links (`ln`, `cp -s`, `cp -d`,
    /// `cp -r`, `rsync -l`, `cpio -p`), each as it was spelt: a link changes what a path means
    /// later (see `action/programs.rs`).
    pub links: Vec<String>,
    /// Copies of the line that keep the modes of what they copy (`cp -p`, `cp -a`,
    /// `--preserve=mode`, `rsync -p`), each as spelt: a set-ID file copied so stays one, and
    /// whether a source is one (through a link, say) is the host's to say.
    pub keeps_modes: Vec<String>,
    /// Commands of the line that make set-user-ID or set-group-ID files (`chmod u+s`, `chmod
    /// 4755`, `install -m 4755`, `chmod --reference`), each as spelt (see `action/programs.rs`).
    pub set_id: Vec<String>,
    /// Kubernetes: the paths the line reads that hold a copy of a Secret's value (or may: a
    /// directory read recursively, a file the gateway could not read whole), read in the
    /// container before the line is checked.
    pub copies: Vec<String>,
    /// Script files a shell in the line runs (`sh deploy.sh`), normalised: held for review,
    /// their text is read for the reviewer and must be the same when the line runs.
    pub scripts: Vec<String>,
    /// What the gateway read of `scripts` for a review, one entry a file: its path, SHA-256,
    /// size and text.
    pub shown: Vec<String>,
    /// Paths the line may write that an interpreter would import in place of its own library
    /// (`json.py`, `sitecustomize.py`, a `.pth` file): code a later command runs unseen.
    pub plants: Vec<String>,
    /// Paths whose names say they hold a private key (`id_ed25519`, `deploy_key`,
    /// `server.pem`, `tls.key.bak`; not `*.pub`), in any case: any line of a key's body is the
    /// key, and no detector tells one from other base64.
    pub key_files: Vec<String>,
    /// Paths whose names say they are environment files (`.env`, `prod.env`,
    /// `app.env.local`, `.ENV~`): their values are masked by their `NAME=value` layout, which
    /// a program cutting lines takes away.
    pub env_files: Vec<String>,
}

/// File transfer detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileTransfer {
    /// Path on the target.
    pub path: String,
    /// `upload`, `download`, or `modify` (remove, rename, mkdir).
    pub direction: String,
    /// The request: `open`, `read`, `write`, `remove`, `rename`, `mkdir`, ...
    pub operation: String,
    /// `sftp` or `scp`.
    pub protocol: String,
    /// An upload to a path an interpreter would import in place of its own library (see
    /// [`Exec::plants`]).
    pub plants: bool,
}

/// Forwarding detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forward {
    /// Destination host (or bind address for remote forwards).
    pub host: String,
    /// Destination port.
    pub port: u16,
    /// `local`, `remote` or `agent`.
    pub direction: String,
}

/// Kubernetes API request detail, as the API server itself would classify it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct K8s {
    /// get, list, watch, create, update, patch, delete, deletecollection, ...
    pub verb: String,
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource, plural lowercase (`pods`, `secrets`).
    pub resource: String,
    /// Namespace, empty when cluster-scoped.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
    /// Subresource (`exec`, `log`, `status`, ...).
    pub subresource: String,
    /// Kind of the object written, for writes.
    pub object_kind: String,
    /// The operations of a JSON patch (`add`, `copy`, `move`, …), in order, for a PATCH sent
    /// as `application/json-patch+json`; `unreadable` when its body is not a JSON patch.
    pub patch_ops: Vec<String>,
    /// The Secrets a written object makes the cluster hand to its pods (`secretKeyRef`,
    /// `envFrom.secretRef`, secret volumes; `serviceaccount-token` for a projected token;
    /// `unreadable` when a workload's body cannot be read).
    pub secret_refs: Vec<String>,
    /// The request path.
    pub path: String,
    /// A write's body, masked, as the reviewer and the recording see it (up to 64 KiB; a body
    /// that is not JSON is described, not shown): what a held write will create or change.
    /// Not seen by rules, which read the fields above.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// The program a command word names (`/bin/cd` is `cd`).
pub(crate) fn shell_program_name(word: &str) -> &str {
    shell::program_name(word)
}

/// Whether `path` is a home directory or one above it (`~`, `/home`, `/home/u`, `/root`, `/`):
/// a link to one makes every later path through it a home path hoop cannot see.
pub fn home_or_above(path: &str) -> bool {
    shell::home_or_above(path)
}

/// A path lexically normalised: `//` and `/./` collapse and `a/..` cancels (above `/` stays at
/// `/`), as rules compare paths.
pub fn normalise_path(path: &str) -> String {
    shell::normalise(path)
}

/// `%XX` escapes decoded, as URL paths are (`None` for a malformed escape or bytes that are
/// not UTF-8): Kubernetes paths and `file:` URLs in commands are read decoded, as the server and
/// the program read them.
pub fn percent_decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Appends to `into` each name of `from` it does not hold yet, in order (kind, table and
/// column lists are small sets kept in the order they were found).
pub fn extend_unique(into: &mut Vec<String>, from: &[String]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

/// A section with nothing in it; empty sections are left out of stored actions (recordings)
/// and deserialise back as empty.
pub trait Blank {
    /// Whether every field is empty (cheaper than comparing with `Default`).
    fn is_blank(&self) -> bool;
}

fn is_default<T: Blank>(v: &T) -> bool {
    v.is_blank()
}

impl Blank for Connect {
    fn is_blank(&self) -> bool {
        self.client_addr.is_empty() && self.params.is_empty()
    }
}

impl Blank for Sql {
    fn is_blank(&self) -> bool {
        self.text.is_empty()
            && self.kinds.is_empty()
            && self.tables.is_empty()
            && self.functions.is_empty()
            && !self.has_where
            && !self.parsed
            && self.copy.is_empty()
            && !self.copy_program
            && self.params.is_empty()
    }
}

impl Blank for Exec {
    fn is_blank(&self) -> bool {
        self.command.is_empty()
            && self.argv.is_empty()
            && self.commands.is_empty()
            && self.programs.is_empty()
            && self.paths.is_empty()
            && self.unreadable.is_empty()
            && self.interpreter.is_empty()
            && !self.pipes_to_interpreter
            && self.unlisted.is_empty()
            && self.writes.is_empty()
            && self.reshapes.is_empty()
            && self.links.is_empty()
            && self.set_id.is_empty()
            && self.keeps_modes.is_empty()
            && self.copies.is_empty()
            && self.scripts.is_empty()
            && self.shown.is_empty()
    }
}

impl Blank for FileTransfer {
    fn is_blank(&self) -> bool {
        self.path.is_empty() && self.direction.is_empty() && self.operation.is_empty() && self.protocol.is_empty()
    }
}

impl Blank for Forward {
    fn is_blank(&self) -> bool {
        self.host.is_empty() && self.port == 0 && self.direction.is_empty()
    }
}

impl Blank for K8s {
    fn is_blank(&self) -> bool {
        [&self.verb, &self.group, &self.version, &self.resource, &self.namespace, &self.name, &self.subresource, &self.object_kind, &self.path]
            .iter()
            .all(|f| f.is_empty())
    }
}

impl Action {
    /// A connect action for `target`.
    pub fn connect(target: impl Into<String>, client_addr: impl Into<String>) -> Self {
        Action {
            kind: ActionKind::Connect,
            target: target.into(),
            connect: Connect { client_addr: client_addr.into(), params: BTreeMap::new() },
            ..Action::default()
        }
    }

    /// A SQL action for `target`, analysed by [`sql::analyze`].
    pub fn sql(target: impl Into<String>, text: &str) -> Self {
        Action {
            kind: ActionKind::Sql,
            target: target.into(),
            sql: sql::analyze(text),
            ..Action::default()
        }
    }

    /// An exec action: `command` read as the shell will run it (parsed, never expanded). A line that runs
    /// an interpreter whose program hoop cannot read is a `Shell`; the server end of an scp or
    /// rsync transfer is a `FileTransfer` with its paths.
    pub fn exec(target: impl Into<String>, command: &str) -> Self {
        Self::from_reading(target.into(), command.to_string(), shell::read_line(command))
    }

    /// A command line typed into a shell whose working directory is `cwd` (see [`typed::Cwd`]):
    /// its relative paths are read there.
    pub fn exec_in(target: impl Into<String>, command: &str, cwd: &typed::Cwd) -> Self {
        Self::from_reading(target.into(), command.to_string(), shell::read_line_in(command, cwd.clone()))
    }

    /// A command given as exact argv (Kubernetes exec: no shell reads it first).
    pub fn exec_argv(target: impl Into<String>, argv: Vec<String>) -> Self {
        Self::exec_argv_at(target, argv, None)
    }

    /// [`Action::exec_argv`] in a container whose spec says it works in `workdir`.
    pub fn exec_argv_at(target: impl Into<String>, argv: Vec<String>, workdir: Option<String>) -> Self {
        let command = argv.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
        Self::from_reading(target.into(), command, shell::read_argv(&argv, workdir))
    }

    fn from_reading(target: String, command: String, r: shell::Reading) -> Self {
        let mut exec = r.exec;
        exec.command = command;
        exec.plants = exec.writes.iter().filter(|w| modules::plants_module(w)).cloned().collect();
        exec.plants.extend(modules::moved_modules(&exec.commands));
        exec.key_files = credentials::key_files(&exec.paths);
        exec.env_files = credentials::env_files(&exec.paths);
        exec.argv = exec.commands.first().cloned().unwrap_or_default();
        let readable = exec.unreadable.is_empty() && !exec.pipes_to_interpreter;
        let kind = match (&r.transfer, readable) {
            (Some(_), true) => ActionKind::FileTransfer,
            (None, true) if !exec.interpreter.is_empty() => ActionKind::Shell,
            _ => ActionKind::Exec,
        };
        let mut a = Action { kind, target, exec, ..Action::default() };
        if let (ActionKind::FileTransfer, Some(t)) = (kind, r.transfer) {
            let operation = if t.direction == "upload" { "write" } else { "read" };
            a.file_transfer = FileTransfer {
                plants: t.direction == "upload" && t.paths.iter().any(|p| modules::plants_module(p)),
                path: t.paths.join(" "),
                direction: t.direction.into(),
                operation: operation.into(),
                protocol: t.protocol.into(),
            };
        }
        a
    }

    /// Whether what the client sends to this command's input is commands, to be checked line
    /// by line as typed into a shell: a shell's or an interpreter's, not an archive that an
    /// extractor (held for review as a whole: [`WRITES_ARCHIVE_NAMES`]) reads as data
    /// (red-team Kubernetes round 100: an approved `kubectl cp` into a pod had its tar stream
    /// refused as typed lines).
    pub fn input_is_commands(&self) -> bool {
        self.kind == ActionKind::Shell && !self.input_is_archive()
    }

    /// Whether this command's input is an archive its extractor reads: passed as data once
    /// approved, read member by member ([`archive::TarGuard`]) so that it makes no links.
    pub fn input_is_archive(&self) -> bool {
        // (Only an extractor alone: in `tar -x; sh` the shell reads the input too.)
        self.kind == ActionKind::Shell && self.exec.interpreter.ends_with(WRITES_ARCHIVE_NAMES) && self.exec.commands.len() == 1 && !self.exec.pipes_to_interpreter
    }

    /// Whether this command's output is an archive tar writes (`tar cf - dir`, what `kubectl
    /// cp` runs in a pod): masked member by member, so that it stays one
    /// ([`crate::mask::archive::ArchiveMasker`]).
    pub fn output_is_archive(&self) -> bool {
        // `cd dir && tar cf - .` too (compatibility round 1: masked as text, the archive broke):
        // a `cd` prints nothing a reader of the archive would see, or, given a CDPATH, a line
        // that stops the stream reading as tar, and the rest is masked as text from there on.
        let Some((last, before)) = self.exec.commands.split_last() else { return false };
        self.kind == ActionKind::Exec && shell::prints_archive(last) && before.iter().all(|c| c.first().is_some_and(|p| p == "cd"))
    }

    /// This command as run on a terminal (an exec with a pty, or a line typed into a shell on
    /// one): a program there that reads keys as commands hoop never sees (`less` runs
    /// `!cmd`, and a line such as `true ! id` reads as harmless shell text while less runs
    /// `id`, red-team round 40) makes it a shell.
    pub fn on_terminal(mut self) -> Self {
        let keys = self.exec.programs.iter().find(|p| programs::reads_keys(p, &self.exec.unlisted)).cloned();
        if let Some(program) = keys.filter(|_| self.kind == ActionKind::Exec && self.exec.unreadable.is_empty() && !self.exec.pipes_to_interpreter) {
            self.kind = ActionKind::Shell;
            if self.exec.interpreter.is_empty() {
                self.exec.interpreter = format!("{program}: on a terminal it reads what is typed to it as commands hoop does not see (a pager's `!command`)");
            }
        }
        self
    }

    /// Whether this is a command of programs hoop knows, read whole: none of them reads keys
    /// typed at a terminal, so output held back to mask it needs no release on a timer.
    pub fn known_commands_only(&self) -> bool {
        self.kind == ActionKind::Exec && self.exec.unreadable.is_empty() && self.exec.interpreter.is_empty() && !self.exec.pipes_to_interpreter && self.exec.unlisted.is_empty()
    }

    /// An interactive shell.
    pub fn shell(target: impl Into<String>) -> Self {
        Action { kind: ActionKind::Shell, target: target.into(), ..Action::default() }
    }

    /// A file transfer.
    pub fn file_transfer(
        target: impl Into<String>,
        path: impl Into<String>,
        direction: &str,
        operation: &str,
        protocol: &str,
    ) -> Self {
        let path = path.into();
        Action {
            kind: ActionKind::FileTransfer,
            target: target.into(),
            file_transfer: FileTransfer {
                // (A rename's two paths are joined by a space.)
                // A directory renamed or linked onto a module's name is a package planted.
                plants: direction != "download" && path.split(' ').any(|p| modules::plants_module(p) || (matches!(operation, "rename" | "hardlink") && modules::names_module_dir(p))),
                path,
                direction: direction.into(),
                operation: operation.into(),
                protocol: protocol.into(),
            },
            ..Action::default()
        }
    }

    /// A port or agent forward.
    pub fn forward(target: impl Into<String>, host: impl Into<String>, port: u16, direction: &str) -> Self {
        Action {
            kind: ActionKind::Forward,
            target: target.into(),
            forward: Forward { host: host.into(), port, direction: direction.into() },
            ..Action::default()
        }
    }

    /// A Kubernetes request.
    pub fn k8s(target: impl Into<String>, k8s: K8s) -> Self {
        Action { kind: ActionKind::K8s, target: target.into(), k8s, ..Action::default() }
    }

    /// A request for a fresh credential, with the Kubernetes request that asks for it.
    pub fn token(target: impl Into<String>, k8s: K8s) -> Self {
        Action { kind: ActionKind::Token, target: target.into(), k8s, ..Action::default() }
    }

    /// An environment variable for what runs on the host.
    pub fn env(target: impl Into<String>, name: impl Into<String>, value: impl Into<String>) -> Self {
        Action { kind: ActionKind::Env, target: target.into(), env: Env { name: name.into(), value: value.into() }, ..Action::default() }
    }

    /// What the action does, in one line for a reviewer or a listing: the SQL, the command, the
    /// request, the transfer with its path, the variable with its value; control characters
    /// shown as escapes ([`crate::display::escaped`]), so that a terminal shows what will run.
    pub fn summary(&self) -> String {
        crate::display::escaped(&self.summary_raw()).into_owned()
    }

    fn summary_raw(&self) -> String {
        let f = &self.file_transfer;
        match self.kind {
            // A reviewer must see what will run: the values bound to its parameters (red-team
            // round 20: `update … set city = $1 where id = $2` showed no values) and what a name
            // runs (round 27: `execute p`). They come first, before any text the caller wrote,
            // so that a comment cannot stand in for them (round 29: a fake `-- with $1 = …`
            // comment showed before the real one at the end).
            ActionKind::Sql => {
                let mut notes = Vec::new();
                if !self.sql.params.is_empty() {
                    let params: Vec<String> = self
                        .sql
                        .params
                        .iter()
                        .enumerate()
                        .map(|(i, p)| match p {
                            Some(v) => format!("${} = '{}'", i + 1, v.replace('\'', "''")),
                            None => format!("${} = NULL", i + 1),
                        })
                        .collect();
                    notes.push(format!("with {}", params.join(", ")));
                }
                if !self.sql.runs.is_empty() {
                    notes.push(format!("runs: {}", self.sql.runs.join(" ;; ")));
                }
                if let Some(rows) = &self.sql.copy_rows {
                    notes.push(format!("rows sent ({} lines): {rows}", rows.lines().count()));
                }
                match notes.is_empty() {
                    true => self.sql.text.clone(),
                    false => format!("[hoop: {}] {}", notes.join("; "), self.sql.text),
                }
            }
            ActionKind::Exec | ActionKind::Shell if !self.exec.command.is_empty() && !self.exec.shown.is_empty() => {
                format!("[hoop: runs {}] {}", self.exec.shown.join(" ;; "), self.exec.command)
            }
            ActionKind::Exec | ActionKind::Shell if !self.exec.command.is_empty() => self.exec.command.clone(),
            ActionKind::Shell => "interactive shell".into(),
            ActionKind::FileTransfer => format!("{} {} {} ({})", f.protocol, f.operation, f.path, f.direction),
            ActionKind::Forward => format!("{} forward to {}:{}", self.forward.direction, self.forward.host, self.forward.port),
            ActionKind::K8s | ActionKind::Token => format!("{} {}", self.k8s.verb, self.k8s.path),
            ActionKind::Env => format!("env {}={}", self.env.name, self.env.value),
            ActionKind::Connect | ActionKind::Exec => self.kind.as_str().to_string(),
        }
    }

    /// A representative action of `kind`, used to try rules at load time.
    pub fn sample(kind: ActionKind) -> Self {
        match kind {
            ActionKind::Connect => {
                let mut a = Action::connect("sample", "127.0.0.1:5000");
                a.connect.params.insert("application_name".into(), "sample".into());
                a
            }
            ActionKind::Sql => {
                let mut a = Action::sql("sample", "select email from users where id = $1");
                a.sql.params = vec![Some("1".into()), None];
                a
            }
            ActionKind::Exec => Action::exec("sample", "ls -la /tmp"),
            ActionKind::Shell => Action::shell("sample"),
            ActionKind::FileTransfer => Action::file_transfer("sample", "/tmp/x", "download", "read", "sftp"),
            ActionKind::Forward => Action::forward("sample", "127.0.0.1", 5432, "local"),
            ActionKind::Env => Action::env("sample", "LANG", "C.UTF-8"),
            ActionKind::Token => Action::token(
                "sample",
                K8s {
                    verb: "create".into(),
                    version: "v1".into(),
                    resource: "serviceaccounts".into(),
                    namespace: "default".into(),
                    name: "builder".into(),
                    subresource: "token".into(),
                    path: "/api/v1/namespaces/default/serviceaccounts/builder/token".into(),
                    ..K8s::default()
                },
            ),
            ActionKind::K8s => Action::k8s(
                "sample",
                K8s {
                    verb: "get".into(),
                    version: "v1".into(),
                    resource: "pods".into(),
                    namespace: "default".into(),
                    name: "web".into(),
                    path: "/api/v1/namespaces/default/pods/web".into(),
                    ..K8s::default()
                },
            ),
        }
    }
}

/// Quotes `word` for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./=:@,+%".contains(&b)) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_without_empty_sections() {
        for kind in ActionKind::ALL {
            let a = Action::sample(kind);
            let v = serde_json::to_value(&a).unwrap_or_default();
            assert_eq!(v["kind"], kind.as_str());
            let back: Action = serde_json::from_value(v).unwrap_or_default();
            assert_eq!(back, a);
        }
        let v = serde_json::to_value(Action::shell("h")).unwrap_or_default();
        assert!(v.get("sql").is_none());
    }

    #[test]
    fn tar_writing_to_its_output_prints_an_archive() {
        for c in ["tar cf - /tmp/x", "tar -cf - x", "tar -c -f - x", "tar --create --file=- x", "tar -C /tmp -cf - x", "tar c x", "tar -cvf /dev/stdout x", "cd /tmp/d && tar cf - .", "cd d; cd e && tar -cf - x"] {
            assert!(Action::exec("h", c).output_is_archive(), "{c}");
        }
        for c in ["tar czf - x", "tar -cf /tmp/a.tar x", "tar -cf- x -z", "tar --gzip -cf - x", "tar -xf - x", "tar cf - x | cat", "tar -tf -", "cat x", "cd d && ls && tar cf - .", "tar cf - x; cd d", "cat f; tar cf - x"] {
            assert!(!Action::exec("h", c).output_is_archive(), "{c}");
        }
    }

    #[test]
    fn an_extractors_input_is_its_archive_not_commands() {
        // Red-team Kubernetes round 100: `kubectl cp` into a pod runs `tar -xmf - -C DIR`.
        let input = |argv: &[&str]| Action::exec_argv("k", argv.iter().map(|a| a.to_string()).collect()).input_is_commands();
        assert!(!input(&["tar", "-xmf", "-", "-C", "/tmp/d"]));
        assert!(!input(&["tar", "xf", "-"]));
        let archive = |argv: &[&str]| Action::exec_argv("k", argv.iter().map(|a| a.to_string()).collect()).input_is_archive();
        assert!(archive(&["tar", "-xmf", "-", "-C", "/tmp/d"]) && archive(&["cpio", "-i"]));
        assert!(!archive(&["sh"]) && !archive(&["cat"]) && !archive(&["sh", "-c", "tar -xf -; sh"]));
        // A shell reads commands, after an extractor too; a tar that runs commands is held as
        // running them.
        assert!(input(&["sh"]));
        assert!(input(&["sh", "-c", "tar -xf - -C /tmp/d; sh"]));
        assert!(input(&["tar", "-x", "--to-command=sh", "-f", "-"]));
        assert!(input(&["tar", "-xIsh", "-f", "-"]));
        // Red-team SSH round 84: tar's prompt for the next volume runs `!` as a shell on the
        // input; `-P` and a second `-C` take its files elsewhere than hoop read.
        for argv in [&["tar", "-tMf", "/dev/null"][..], &["tar", "tMf", "/dev/null"], &["tar", "-t", "--multi-volume", "-f", "/dev/null"]] {
            assert!(input(argv), "{argv:?}");
        }
        let unreadable = |argv: &[&str]| !Action::exec_argv("k", argv.iter().map(|a| a.to_string()).collect()).exec.unreadable.is_empty();
        for argv in [&["tar", "-xvP", "-C", "/tmp/x"][..], &["tar", "-x", "--absolute-names", "-f", "-"], &["tar", "-x", "-C", "/tmp/x", "-C", "/home/u", "-f", "-"], &["tar", "-x", "-C/tmp/x", "--directory=/home/u"]] {
            assert!(unreadable(argv), "{argv:?}");
        }
        assert!(!unreadable(&["tar", "-xmf", "-", "-C", "/tmp/x"]));
        // Red-team SSH round 85: `--one-top-level=DIR` extracts into DIR whatever `-C` says, and
        // an archive read from a file or another command on the host is not read as it passes
        // (an archive written unreviewed made a link once its extraction was approved).
        for argv in [
            &["tar", "-x", "--one-top-level=/home/u", "-C", "/tmp/x", "-f", "-"][..],
            &["tar", "-x", "--one-top=/home/u", "-f", "-"],
            &["tar", "-xf", "/tmp/m.tar", "-C", "/tmp/x"],
            &["tar", "-xvf", "/tmp/m.tar"],
            &["tar", "xf", "/tmp/m.tar"],
            &["tar", "-xf/tmp/m.tar"],
            &["tar", "--file=/tmp/m.tar", "-x"],
            &["tar", "-C", "/tmp/x", "-x", "--file", "/tmp/m.tar"],
            &["sh", "-c", "tar -x -C /tmp/x < /tmp/m.tar"],
            &["sh", "-c", "cat /tmp/m.tar | tar -x -C /tmp/x"],
            &["sh", "-c", "tar -x -C /tmp/x 0</tmp/m.tar"],
            &["unzip", "/tmp/a.zip"],
            &["cpio", "-i", "-F", "/tmp/a.cpio"],
            &["sh", "-c", "cpio -id < /tmp/a.cpio"],
        ] {
            assert!(unreadable(argv), "{argv:?}");
        }
        for argv in [
            &["tar", "-x", "-C", "/tmp/x"][..],
            &["tar", "xf", "-", "-C", "/tmp/x"],
            &["tar", "-x", "-f", "/dev/stdin", "-C", "/tmp/x"],
            &["tar", "-tvf", "/tmp/m.tar"],
            &["tar", "-czf", "/tmp/a.tgz", "/tmp/x"],
            &["sh", "-c", "find /tmp/x | cpio -o > /tmp/a.cpio"],
            &["sh", "-c", "tar -x -C /tmp/x 2>/tmp/err"],
        ] {
            assert!(!unreadable(argv), "{argv:?}");
        }
    }

    #[test]
    fn a_summary_shows_bound_parameters() {
        let mut a = Action::sql("db", "update t set v = $1 where id = $2 and x = $3");
        a.sql.params = vec![Some("it's".into()), Some("3".into()), None];
        assert_eq!(a.summary(), "[hoop: with $1 = 'it''s', $2 = '3', $3 = NULL] update t set v = $1 where id = $2 and x = $3");
        // Before the text: a comment in it cannot stand in for them.
        let mut b = Action::sql("t", "select $1 -- with $1 = 'harmless'");
        b.sql.params = vec![Some("x".into())];
        assert!(b.summary().starts_with("[hoop: with $1 = 'x'] "), "{}", b.summary());
        assert_eq!(Action::sql("db", "select 1").summary(), "select 1");
    }
}
