//! The optional folder of static files (the browser game), served with
//! nothing of the folder's surroundings: no dotfiles (`.env`, `.git/`),
//! and no path that leads out of it through a symlink. Anything refused
//! is a plain `404`, as if it were not there.
//!
//! `web/build.sh` writes `file.br` and `file.gz` beside each file worth
//! compressing; a browser gets the smallest copy its `Accept-Encoding`
//! allows (`Vary: Accept-Encoding` tells caches so). Files whose name
//! carries their content's hash (`arena-0123456789abcdef.wasm`) never
//! change, so browsers keep them for a year without asking again; every
//! other file (`index.html`, `loader.js`, which names the hashed ones) is
//! revalidated on each visit (`no-cache`), so a new build is seen at once.

use crate::api::error_response;
use axum::{
    extract::Request,
    http::{HeaderValue, header},
    response::Response,
};
use bevy_p2p_protocol::ErrorCode;
use std::{
    io,
    path::{Path, PathBuf},
};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// The web root and its file service.
#[derive(Clone, Debug)]
pub(crate) struct WebRoot {
    /// Canonical: every served file must resolve under it.
    root: PathBuf,
    files: ServeDir,
}

impl WebRoot {
    /// Serves `root`, which must be a folder.
    pub(crate) fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("web root `{}` is not a folder", root.display()),
            ));
        }
        // `web/build.sh` writes `file.br` and `file.gz` beside each large
        // file: browsers get the smallest one they accept.
        let files = ServeDir::new(&root)
            .append_index_html_on_directories(true)
            .precompressed_br()
            .precompressed_gzip();
        Ok(Self { root, files })
    }

    /// The page a share link opens, `index.html`, under the same checks
    /// as any file.
    pub(crate) async fn serve_index(&self, mut request: Request) -> Response {
        *request.uri_mut() = axum::http::Uri::from_static("/index.html");
        self.serve(request).await
    }

    /// The file for a `GET` or `HEAD`, or `404`.
    pub(crate) async fn serve(&self, request: Request) -> Response {
        if !self.may_serve(request.uri().path()).await {
            return error_response(ErrorCode::NotFound);
        }
        let immutable = is_content_hashed(request.uri().path());
        let mut response = match self.files.clone().oneshot(request).await {
            Ok(response) => response.map(axum::body::Body::new),
            Err(never) => match never {},
        };
        let status = response.status();
        if status.is_success() || status == axum::http::StatusCode::NOT_MODIFIED {
            let headers = response.headers_mut();
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE }),
            );
        }
        response
    }

    /// Whether the URL path names something inside the root that is not
    /// hidden. Paths that name nothing pass: the file service says `404`.
    async fn may_serve(&self, url_path: &str) -> bool {
        let mut path = self.root.clone();
        for segment in url_path.split('/').filter(|segment| !segment.is_empty()) {
            let Some(segment) = percent_decode(segment) else {
                return false;
            };
            if segment.starts_with('.') || segment.contains(['/', '\\', '\0']) {
                return false;
            }
            path.push(segment);
        }
        // A folder is served as its `index.html`: that must stay inside too.
        let index = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => Some(path.join("index.html")),
            _ => None,
        };
        for file in std::iter::once(path).chain(index) {
            for candidate in [with_suffix(&file, ".br"), with_suffix(&file, ".gz"), file] {
                match tokio::fs::canonicalize(&candidate).await {
                    Ok(real) if !real.starts_with(&self.root) => return false,
                    _ => {}
                }
            }
        }
        true
    }
}

/// `Cache-Control` of a file named by its content's hash: it never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of every other file: kept, but asked about on each use.
const REVALIDATE: &str = "no-cache";

/// `file.br`, `file.gz`: where `web/build.sh` writes a file's compressed copies.
fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut named = file.as_os_str().to_owned();
    named.push(suffix);
    PathBuf::from(named)
}

/// Whether the URL path's last segment is named like `web/build.sh` names
/// a file after its content: `{name}-{16 or more hex digits}.{extension}`.
fn is_content_hashed(url_path: &str) -> bool {
    let file = url_path.rsplit('/').next().unwrap_or_default();
    let Some((stem, extension)) = file.rsplit_once('.') else {
        return false;
    };
    let Some((name, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    !name.is_empty()
        && !extension.is_empty()
        && hash.len() >= 16
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `%XX` decoding of one path segment; `None` for a bad escape or bytes
/// that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode() {
        assert_eq!(percent_decode("a%2Eb").as_deref(), Some("a.b"));
        assert_eq!(percent_decode("%2egit").as_deref(), Some(".git"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn content_hashed_names() {
        assert!(is_content_hashed("/arena-0123456789abcdef.wasm"));
        assert!(is_content_hashed("/sub/arena-0123456789abcdef0123.js"));
        for path in [
            "/",
            "/index.html",
            "/loader.js",
            "/arena.js",
            "/arena-0123456789abcde.js",
            "/arena-0123456789ABCDEF.js",
            "/arena-0123456789abcdeg.js",
            "/-0123456789abcdef.js",
            "/arena-0123456789abcdef.",
            "/arena-0123456789abcdef",
        ] {
            assert!(!is_content_hashed(path), "{path}");
        }
    }
}
