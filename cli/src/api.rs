//! The query API client for the inspector commands: where the API is, the token, and
//! errors with exit codes a script can tell apart.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Exit code: the server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the server refused the token (HTTP 401 or 403), or there was none.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: the lot, party or event does not exist (HTTP 404).
pub const EXIT_NOT_FOUND: u8 = 5;

/// A failure with its own exit code; `main` exits with `code` after printing `message`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// What went wrong, for a person.
    pub message: String,
}

/// An HTTP client for `base` that trusts the CA certificates in the PEM file `ca` (one or
/// a bundle, such as the system's `/etc/ssl/certs/ca-certificates.crt`); an `https://`
/// base without one is refused, naming `flag`, since this client trusts no CA by itself.
fn https_client(base: &str, ca: Option<&Path>, flag: &str) -> anyhow::Result<reqwest::Client> {
    let mut http = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .map_err(|e| anyhow::anyhow!("{flag}: cannot read {}: {e}", ca.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("{flag}: {}: {e}", ca.display()))?;
        if certificates.is_empty() {
            anyhow::bail!("{flag}: {} holds no PEM certificate", ca.display());
        }
        for certificate in certificates {
            http = http.add_root_certificate(certificate);
        }
    } else if base.starts_with("https://") {
        anyhow::bail!(
            "{base} is https: pass {flag} with the CA that issued its certificate (for a public certificate, the system's bundle: /etc/ssl/certs/ca-certificates.crt)"
        );
    }
    Ok(http.build()?)
}

/// Where the query API is and how to authenticate, from flags, environment or config.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// The node's query API (HTTP). Default: the config file's `api`, else
    /// http://127.0.0.1:8080.
    #[arg(long, env = "FOODTRACE_API")]
    pub api: Option<String>,
    /// The inspector's bearer token. Default: the config file's `token`.
    #[arg(long, env = "FOODTRACE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Trust the query API's certificate if this CA issued it (PEM), for an `https://`
    /// API. Default: the config file's `ca_cert`.
    #[arg(long = "api-ca-cert", env = "FOODTRACE_API_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// A TOML config file with `api = "..."` and `token = "..."`. Default:
    /// $XDG_CONFIG_HOME/foodtrace/config.toml, else ~/.config/foodtrace/config.toml.
    #[arg(long, env = "FOODTRACE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    api: Option<String>,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("foodtrace").join("config.toml"))
}

/// A client of one server.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// An RFC 9457 problem document, as far as the CLI reads it.
#[derive(Debug, Deserialize)]
struct Problem {
    #[serde(default)]
    detail: String,
}

impl ApiClient {
    /// Resolves flags, environment and the config file (flags and environment win).
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<ApiClient> {
        let (path, explicit) = match &args.config {
            Some(path) => (Some(path.clone()), true),
            None => (default_config_path(), false),
        };
        let config = match path {
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(text) => toml::from_str::<ConfigFile>(&text).map_err(|e| {
                    anyhow::anyhow!("config file {}: {}", path.display(), e.message())
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                    ConfigFile::default()
                }
                Err(e) => anyhow::bail!("config file {}: {e}", path.display()),
            },
            None => ConfigFile::default(),
        };
        let base = args
            .api
            .clone()
            .or(config.api)
            .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
        let base = base.trim_end_matches('/').to_owned();
        let http = https_client(
            &base,
            args.ca_cert.clone().or(config.ca_cert).as_deref(),
            "--api-ca-cert (or set FOODTRACE_API_CA_CERT, or ca_cert in the config file)",
        )?;
        Ok(ApiClient {
            base,
            token: args.token.clone().or(config.token),
            http,
        })
    }

    /// A public page's JSON (no token needed), trusting the certificates `ca` holds for
    /// an `https://` page.
    pub async fn public<T: DeserializeOwned>(url: &str, ca: Option<&Path>) -> Result<T, Failure> {
        let client = https_client(url, ca, "--ca-cert").map_err(|e| Failure {
            code: 2,
            message: e.to_string(),
        })?;
        let response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| Failure {
                code: EXIT_UNREACHABLE,
                message: format!("cannot reach {url}: {}", root_cause(&e)),
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| Failure {
                code: 1,
                message: format!("{url}: the answer is not what this CLI understands: {e}"),
            });
        }
        let detail = response
            .json::<Problem>()
            .await
            .map(|p| p.detail)
            .unwrap_or_default();
        Err(Failure {
            code: if status.as_u16() == 404 {
                EXIT_NOT_FOUND
            } else {
                1
            },
            message: format!("{url} ({status}): {detail}"),
        })
    }

    /// GETs `path` (already percent-encoded) and decodes the JSON answer; maps failures
    /// to [`Failure`]s with their exit codes.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(reqwest::Method::GET, path).await
    }

    /// POSTs to `path` (already percent-encoded, no body) and decodes the JSON answer, as
    /// [`ApiClient::get`].
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(reqwest::Method::POST, path).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let Some(token) = &self.token else {
            return Err(Failure {
                code: EXIT_REFUSED,
                message: "no inspector token: set FOODTRACE_TOKEN, pass --token, or put token = \"...\" in the config file".into(),
            });
        };
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| Failure {
                code: EXIT_UNREACHABLE,
                message: format!(
                    "cannot reach the query API at {}: {}",
                    self.base,
                    root_cause(&e)
                ),
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| Failure {
                code: 1,
                message: format!("{url}: the answer is not what this CLI understands: {e}"),
            });
        }
        let detail = response
            .json::<Problem>()
            .await
            .map(|p| p.detail)
            .unwrap_or_default();
        let code = match status.as_u16() {
            401 | 403 => EXIT_REFUSED,
            404 => EXIT_NOT_FOUND,
            _ => 1,
        };
        let why = match status.as_u16() {
            401 => "the server refused the token",
            403 => "the server refused the token",
            404 => "not found",
            _ => "the request failed",
        };
        Err(Failure {
            code,
            message: format!("{why} ({status}): {detail}"),
        })
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// What a path segment or query value keeps as is: RFC 3986's unreserved characters.
const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment, percent-encoded (lot ids in GS1 form hold slashes).
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}
