//! Inspector bearer tokens, stored hashed.
//!
//! The node keeps a token file (by default `inspector-tokens` in its data directory):
//! one inspector per line, `name`, a tab, the token's hash in hex, and optionally a tab
//! and `revoked`. Lines starting with `#` are comments. A token is `ft_` and 43
//! characters of URL-safe base64 (32 random bytes); its hash is BLAKE3 in key-derivation
//! mode with the context `foodtrace v1 inspector token`, so the file never holds a
//! token. `foodtrace inspector add` appends a line and prints the token once;
//! `foodtrace inspector revoke` marks it revoked.
//!
//! The file is re-read when it changes, so adding or revoking an inspector needs no
//! restart: a token not yet known makes the server look at once; a revocation is seen
//! within a second.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const TOKEN_CONTEXT: &str = "foodtrace v1 inspector token";
const TOKEN_PREFIX: &str = "ft_";
const RECHECK: Duration = Duration::from_secs(1);

/// The hash of a token as the file stores it (64 hex digits).
pub fn token_hash(token: &str) -> String {
    hex::encode(blake3::derive_key(TOKEN_CONTEXT, token.as_bytes()))
}

/// A new random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// One line of the token file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// Who the token belongs to.
    pub name: String,
    /// [`token_hash`] of the token.
    pub hash: String,
    /// Revoked tokens are refused with 403.
    pub revoked: bool,
}

/// Parses a token file's text. Errors name the line.
pub fn parse_token_file(text: &str) -> Result<Vec<TokenEntry>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| format!("line {}: {what}", n + 1);
        let (name, hash) = match fields.as_slice() {
            [name, hash] | [name, hash, _] => (*name, *hash),
            _ => return Err(bad("expected NAME<tab>HASH[<tab>revoked]")),
        };
        if name.is_empty() {
            return Err(bad("the inspector's name is empty"));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the token hash is not 64 hex digits"));
        }
        let revoked = match fields.get(2) {
            None => false,
            Some(&"revoked") => true,
            Some(other) => return Err(bad(&format!("unknown flag '{other}'"))),
        };
        entries.push(TokenEntry {
            name: name.to_owned(),
            hash: hash.to_ascii_lowercase(),
            revoked,
        });
    }
    Ok(entries)
}

/// Renders entries as a token file.
pub fn render_token_file(entries: &[TokenEntry]) -> String {
    let mut text =
        String::from("# foodtrace inspector tokens: NAME<tab>BLAKE3 hash[<tab>revoked]\n");
    for entry in entries {
        text.push_str(&entry.name);
        text.push('\t');
        text.push_str(&entry.hash);
        if entry.revoked {
            text.push_str("\trevoked");
        }
        text.push('\n');
    }
    text
}

fn read_file(path: &Path) -> Result<Vec<TokenEntry>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_token_file(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the file whole, through a temporary file renamed over it, mode 0600.
fn write_file(path: &Path, entries: &[TokenEntry]) -> Result<(), String> {
    use std::io::Write;
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let temp = path.with_extension("new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(fail)?;
    file.write_all(render_token_file(entries).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temp, path).map_err(fail)
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header, or not a token (401).
    Missing(&'static str),
    /// A token nobody holds (401).
    Unknown,
    /// A token that was revoked (403).
    Revoked(String),
}

/// The inspectors a server lets in.
pub struct Inspectors {
    source: Option<PathBuf>,
    state: Mutex<Loaded>,
}

struct Loaded {
    by_hash: HashMap<String, TokenEntry>,
    modified: Option<(SystemTime, u64)>,
    checked: Instant,
}

impl Inspectors {
    /// Appends an inspector with a new token to the file (creating it, mode 0600) and
    /// returns the token. Refuses a name already there.
    pub fn add_to_file(path: &Path, name: &str) -> Result<String, String> {
        if name.is_empty() || name.contains(['\t', '\n', '\r']) {
            return Err(format!("'{name}' cannot be an inspector name"));
        }
        let mut entries = read_file(path)?;
        if entries.iter().any(|e| e.name == name) {
            return Err(format!(
                "inspector '{name}' already has a token in {}",
                path.display()
            ));
        }
        let token = new_token();
        entries.push(TokenEntry {
            name: name.to_owned(),
            hash: token_hash(&token),
            revoked: false,
        });
        write_file(path, &entries)?;
        Ok(token)
    }

    /// Marks an inspector's token revoked in the file.
    pub fn revoke_in_file(path: &Path, name: &str) -> Result<(), String> {
        let mut entries = read_file(path)?;
        let entry = entries
            .iter_mut()
            .find(|e| e.name == name)
            .ok_or_else(|| format!("no inspector '{name}' in {}", path.display()))?;
        entry.revoked = true;
        write_file(path, &entries)
    }

    /// Inspectors from a token file, re-read when it changes. A missing file means
    /// no inspector yet.
    pub fn from_file(path: &Path) -> Result<Inspectors, String> {
        let inspectors = Inspectors {
            source: Some(path.to_owned()),
            state: Mutex::new(Loaded {
                by_hash: HashMap::new(),
                modified: None,
                checked: Instant::now(),
            }),
        };
        let mut state = inspectors.state.lock().expect("fresh lock");
        Inspectors::reload(path, &mut state)?;
        drop(state);
        Ok(inspectors)
    }

    /// A fixed set of inspectors (for tests and embedding).
    pub fn fixed(entries: Vec<TokenEntry>) -> Inspectors {
        Inspectors {
            source: None,
            state: Mutex::new(Loaded {
                by_hash: entries.into_iter().map(|e| (e.hash.clone(), e)).collect(),
                modified: None,
                checked: Instant::now(),
            }),
        }
    }

    fn reload(path: &Path, state: &mut Loaded) -> Result<(), String> {
        state.checked = Instant::now();
        let modified = std::fs::metadata(path)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .ok();
        if modified.is_some() && modified == state.modified {
            return Ok(());
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let entries = parse_token_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        state.by_hash = entries.into_iter().map(|e| (e.hash.clone(), e)).collect();
        state.modified = modified;
        Ok(())
    }

    /// Checks an `Authorization` header value; returns the inspector's name.
    pub fn check(&self, authorization: Option<&str>) -> Result<String, AuthError> {
        let header = authorization.ok_or(AuthError::Missing(
            "inspector routes need a bearer token: send 'Authorization: Bearer <token>'",
        ))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(AuthError::Missing(
                "the Authorization header is not 'Bearer <token>'",
            ))?;
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(AuthError::Missing(
                "that is not a foodtrace inspector token (they start with 'ft_')",
            ));
        }
        let hash = token_hash(token);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // An unknown token may have just been added; a known one may have been revoked
        // (looked for at most once a second).
        let stale = match state.by_hash.get(&hash) {
            None => true,
            Some(_) => state.checked.elapsed() >= RECHECK,
        };
        if stale
            && let Some(path) = &self.source
            && let Err(error) = Inspectors::reload(path, &mut state)
        {
            tracing::warn!(%error, "inspector token file not reloaded; keeping the last one");
        }
        match state.by_hash.get(&hash) {
            None => Err(AuthError::Unknown),
            Some(entry) if entry.revoked => Err(AuthError::Revoked(entry.name.clone())),
            Some(entry) => Ok(entry.name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_by_hash_and_revocation_refuses() {
        let token = new_token();
        assert!(token.starts_with("ft_") && token.len() == 46);
        let entries = vec![
            TokenEntry {
                name: "li".into(),
                hash: token_hash(&token),
                revoked: false,
            },
            TokenEntry {
                name: "old".into(),
                hash: token_hash("ft_old"),
                revoked: true,
            },
        ];
        let text = render_token_file(&entries);
        assert!(!text.contains(&token), "the file never holds a token");
        assert_eq!(parse_token_file(&text).unwrap(), entries);
        let inspectors = Inspectors::fixed(entries);
        assert_eq!(
            inspectors.check(Some(&format!("Bearer {token}"))),
            Ok("li".into())
        );
        assert_eq!(
            inspectors.check(Some("Bearer ft_old")),
            Err(AuthError::Revoked("old".into()))
        );
        assert_eq!(
            inspectors.check(Some("Bearer ft_nobody")),
            Err(AuthError::Unknown)
        );
        assert!(matches!(inspectors.check(None), Err(AuthError::Missing(_))));
        assert!(matches!(
            inspectors.check(Some(&format!("Basic {token}"))),
            Err(AuthError::Missing(_))
        ));
    }

    #[test]
    fn bad_token_files_name_the_line() {
        assert_eq!(
            parse_token_file("# c\nli\tzz\n"),
            Err("line 2: the token hash is not 64 hex digits".into())
        );
        assert!(parse_token_file(&format!("li\t{}\tgone\n", "a".repeat(64))).is_err());
    }
}
