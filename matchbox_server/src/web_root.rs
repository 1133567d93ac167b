//! The optional folder of static files (the browser game), served with
//! nothing of the folder's surroundings: no dotfiles (`.env`, `.git/`),
//! and no path that leads out of it through a symlink. Anything refused
//! is a plain `404`, as if it were not there.

use crate::api::error_response;
use axum::{extract::Request, response::Response};
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
        // `web/build.sh` writes `file.gz` beside each large file: browsers
        // that accept gzip (all of them) get that, several times smaller.
        let files = ServeDir::new(&root)
            .append_index_html_on_directories(true)
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
        match self.files.clone().oneshot(request).await {
            Ok(response) => response.map(axum::body::Body::new),
            Err(never) => match never {},
        }
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
            for candidate in [gzipped(&file), file] {
                match tokio::fs::canonicalize(&candidate).await {
                    Ok(real) if !real.starts_with(&self.root) => return false,
                    _ => {}
                }
            }
        }
        true
    }
}

/// `file.gz`, where `web/build.sh` writes a file's gzipped copy.
fn gzipped(file: &Path) -> PathBuf {
    let mut gz = file.as_os_str().to_owned();
    gz.push(".gz");
    PathBuf::from(gz)
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
}
