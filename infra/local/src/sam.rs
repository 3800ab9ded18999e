//! The SAM transform, done by AWS's own library (`aws-sam-translator`, pinned in
//! `scripts/requirements-tools.txt`) through `scripts/sam-translate.py`, offline. What it gives
//! is the plain CloudFormation AWS would deploy: functions with their globals merged in, event
//! source mappings, rules and schedules, the HTTP API's routes. The rest of this crate reads
//! only that.
//!
//! Reading YAML is the library's too (`read`): its loader turns the short forms (`!Ref`,
//! `!GetAtt`...) into the long JSON forms CloudFormation defines.
//!
//! A run takes a Python start (seconds on a loaded machine) and every test provisions from the
//! same template, so results are kept under the target directory (and translations in memory),
//! keyed by a hash of the input, the script and the pinned requirements.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::{LocalError, LocalResult};

/// The repository this crate belongs to: the script and the tools' venv live there.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python(root: &Path) -> PathBuf {
    let venv = root.join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn cache_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("sam-translate")
}

fn memo() -> &'static Mutex<HashMap<u64, Value>> {
    static MEMO: OnceLock<Mutex<HashMap<u64, Value>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// A template's text (YAML or JSON) as a JSON document, read the way the transform reads it:
/// YAML short forms (`!Ref`, `!GetAtt A.B`...) become their long forms.
pub fn read(text: &str) -> LocalResult<Value> {
    if let Ok(doc) = serde_json::from_str(text) {
        return Ok(doc);
    }
    script(&["--no-transform"], text)
}

/// A SAM template (a JSON document) as the plain CloudFormation the transform makes of it.
pub fn translate(template: &Value) -> LocalResult<Value> {
    let input = template.to_string();
    let key = cache_key(&[], &input)?;
    if let Some(doc) = memo().lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(doc);
    }
    let doc = script(&[], &input)?;
    if let Ok(mut m) = memo().lock() {
        m.insert(key, doc.clone());
    }
    Ok(doc)
}

fn script_path() -> PathBuf {
    repo_root().join("scripts/sam-translate.py")
}

/// The input, the script and the translator's pinned version make an answer.
fn cache_key(args: &[&str], input: &str) -> LocalResult<u64> {
    let mut h = DefaultHasher::new();
    (args, input).hash(&mut h);
    for path in [
        script_path(),
        repo_root().join("scripts/requirements-tools.txt"),
    ] {
        let text =
            std::fs::read_to_string(&path).map_err(|source| LocalError::Io { path, source })?;
        text.hash(&mut h);
    }
    Ok(h.finish())
}

/// `sam-translate.py <args>` on `input`, or its answer from an earlier run.
fn script(args: &[&str], input: &str) -> LocalResult<Value> {
    let root = repo_root();
    let cached = cache_dir(&root).join(format!("{:016x}.json", cache_key(args, input)?));
    let output = match std::fs::read_to_string(&cached) {
        Ok(text) => text,
        Err(_) => {
            let text = run_translator(&root, args, input)?;
            // A cache only: failing to write it costs the next run a translation.
            let _ = std::fs::create_dir_all(cache_dir(&root))
                .and_then(|()| write_atomically(&cached, &text));
            text
        }
    };
    serde_json::from_str(&output)
        .map_err(|e| LocalError::template(format!("the SAM transform's output: {e}")))
}

fn run_translator(root: &Path, args: &[&str], input: &str) -> LocalResult<String> {
    let python = python(root);
    let mut child = Command::new(&python)
        .arg(script_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            LocalError::Process(format!(
                "cannot run {} (make tools installs it): {e}",
                python.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| LocalError::Process(format!("the SAM transform's input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LocalError::Process(format!("the SAM transform: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The translator's own message is its last line (the rest is a traceback).
        let why = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(LocalError::template(format!(
            "the SAM transform failed ({}): {} (is aws-sam-translator installed? make tools)",
            out.status,
            why.unwrap_or("no message")
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|e| LocalError::Process(format!("the SAM transform's output: {e}")))
}

/// Parallel test processes translate the same template: a reader sees a whole file or none.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
