//! CEL functions hoop adds to the standard library, each where the standard one falls short.

use cel_interpreter::extractors::This;
use cel_interpreter::{Context, ExecutionError, FunctionContext};
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Compiled regexes are cached up to this many patterns; rules use a handful.
const REGEX_CACHE_MAX: usize = 512;

fn regex_cache() -> &'static RwLock<HashMap<String, Regex>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Regex>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// `s.matches(re)` with the compiled regex cached: the built-in recompiles on every call (~25 µs).
fn matches(ftx: &FunctionContext<'_>, This(this): This<Arc<String>>, pattern: Arc<String>) -> Result<bool, ExecutionError> {
    if let Some(re) = regex_cache().read().unwrap_or_else(|p| p.into_inner()).get(pattern.as_str()) {
        return Ok(re.is_match(&this));
    }
    let re = Regex::new(&pattern).map_err(|e| ftx.error(format!("'{pattern}' is not a valid regex: {e}")))?;
    let hit = re.is_match(&this);
    let mut cache = regex_cache().write().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= REGEX_CACHE_MAX {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re);
    Ok(hit)
}

/// `s.lowerAscii()`: CEL's string extension, missing from the interpreter.
fn lower_ascii(This(this): This<Arc<String>>) -> String {
    this.to_ascii_lowercase()
}

/// `baseName("public.users") == "users"`: the last dot-separated part of a qualified name.
fn base_name(name: Arc<String>) -> String {
    base_name_of(&name).to_string()
}

/// What `baseName` gives for `name` (also for rules decided natively).
pub(super) fn base_name_of(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or_default()
}

/// Installs hoop's functions into a root context.
pub(crate) fn install(ctx: &mut Context<'_>) {
    ctx.add_function("matches", matches);
    ctx.add_function("lowerAscii", lower_ascii);
    ctx.add_function("baseName", base_name);
}
