//! Downloads the dataset files into `data/<dataset>/`, checking each against
//! its published MD5.
//!
//! Each file is fetched from the mirrors in order until one delivers bytes
//! with the expected MD5. The bytes go to a temporary file in the destination
//! folder, which is renamed to the final name only after the checksum
//! matches. So an interrupted or rejected download never leaves a file that
//! the data search would take for a good one. Checksums apply to downloads
//! only: files that the user provides are read as they are.

use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::{Digest, Md5};

use crate::data::{self, DataError, Dataset};

/// Built-in MNIST mirrors, tried in this order.
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// Built-in Fashion-MNIST mirrors, tried in this order.
pub const FASHION_MIRRORS: [&str; 2] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

/// A file to download and the MD5 of its published gzip bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name on the mirror and on disk, such as `t10k-labels-idx1-ubyte.gz`.
    pub name: &'static str,
    /// Expected MD5 of the file, as 32 lowercase hex digits.
    pub md5: &'static str,
}

// The MD5 sums are the ones that torchvision's MNIST and FashionMNIST
// datasets list for these files.
const MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
    },
];

const FASHION_FILES: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
    },
];

/// Maximum time to establish a connection, TLS handshake included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Maximum time that one read from the connection may wait for data, so a
/// stalled server fails the attempt instead of hanging the program.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Maximum size of a downloaded file. The largest dataset file,
/// Fashion-MNIST's training images, is about 26 MB.
pub const MAX_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Returns the four files of `dataset` with their MD5 sums, in the order of
/// [`data::FILES`].
pub fn remote_files(dataset: Dataset) -> &'static [RemoteFile; 4] {
    match dataset {
        Dataset::Mnist => &MNIST_FILES,
        Dataset::Fashion => &FASHION_FILES,
    }
}

/// Returns the built-in mirrors of `dataset`, in the order they are tried.
/// The `--mirror` option replaces this list.
pub fn default_mirrors(dataset: Dataset) -> Vec<String> {
    let mirrors: &[&str] = match dataset {
        Dataset::Mnist => &MNIST_MIRRORS,
        Dataset::Fashion => &FASHION_MIRRORS,
    };
    mirrors.iter().map(|mirror| mirror.to_string()).collect()
}

/// Finds the folder with the files of `dataset`, downloading them when no
/// folder has them.
///
/// With `data_dir` this is [`data::locate`] and never downloads. Without it,
/// the folders of [`data::default_dirs`] are searched first. When none contains
/// all four files, they are downloaded from `mirrors` into
/// `cwd/data/<dataset>/`, which is returned, so the next run finds them there.
///
/// # Errors
///
/// The errors of [`data::locate`] for `data_dir`, and those of [`download`].
pub fn find_or_download(
    dataset: Dataset,
    data_dir: Option<&Path>,
    cwd: &Path,
    mirrors: &[String],
    progress: bool,
) -> Result<PathBuf, DataError> {
    if data_dir.is_some() {
        return data::locate(dataset, data_dir, cwd);
    }
    if let Some(dir) = data::search_default_dirs(dataset, cwd) {
        return Ok(dir);
    }

    let dest = data::download_dir(dataset, cwd);
    download(dataset, &dest, mirrors, progress)?;
    Ok(dest)
}

/// Downloads the files of `dataset` that `dest` lacks, creating `dest` if
/// needed.
///
/// A file counts as present when `dest` has it as `NAME` or `NAME.gz`, and
/// is then left alone. Every missing file is tried on each of `mirrors` in
/// order (`mirrors` ends in `/` or gets one added). Files that arrive with the
/// right MD5 are kept even when another file fails. With `progress`, a line
/// on stderr announces the download, and a progress bar per file is shown
/// when stderr is a terminal.
///
/// # Errors
///
/// [`DataError::CreateDir`] when `dest` cannot be created.
/// [`DataError::DownloadFailed`] when any file could not be downloaded,
/// listing for each such file every mirror tried and why it failed.
pub fn download(
    dataset: Dataset,
    dest: &Path,
    mirrors: &[String],
    progress: bool,
) -> Result<(), DataError> {
    std::fs::create_dir_all(dest).map_err(|error| DataError::CreateDir {
        dir: dest.to_path_buf(),
        source: error,
    })?;

    let missing: Vec<&RemoteFile> = remote_files(dataset)
        .iter()
        .filter(|file| data::find_file(dest, file.name.trim_end_matches(".gz")).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if progress {
        eprintln!("Downloading {} into {}", dataset.title(), dest.display());
    }

    let failures: Vec<FileFailure> = missing
        .into_iter()
        .filter_map(|file| download_file(file.name, file.md5, dest, mirrors, progress).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(DataError::DownloadFailed {
            dataset,
            dest: dest.to_path_buf(),
            failures,
        })
    }
}

/// Downloads one file into `dest_dir/name` and returns that path.
///
/// Tries `mirror + name` for each of `mirrors` in order and stops at the
/// first response whose bytes have the MD5 `expected_md5` (hex, either
/// case). The bytes are written to a temporary file in `dest_dir` that is
/// renamed to `name` only after the check passes and removed otherwise.
/// An existing `dest_dir/name` is replaced. `progress` shows a progress bar
/// on stderr when stderr is a terminal.
///
/// # Errors
///
/// A [`FileFailure`] listing every mirror tried and why it failed. A local
/// write error ends the attempts at once, since another mirror cannot fix it.
pub fn download_file(
    name: &str,
    expected_md5: &str,
    dest_dir: &Path,
    mirrors: &[String],
    progress: bool,
) -> Result<PathBuf, FileFailure> {
    let mut attempts = Vec::new();
    for mirror in mirrors {
        let url = file_url(mirror, name);
        match fetch_verified(&url, name, expected_md5, dest_dir, progress) {
            Ok(path) => return Ok(path),
            Err(problem) => {
                let local = matches!(problem, AttemptError::Write { .. });
                attempts.push(Attempt { url, problem });
                if local {
                    break;
                }
            }
        }
    }
    Err(FileFailure {
        file: name.to_string(),
        attempts,
    })
}

/// A file that no mirror delivered, with every attempt.
#[derive(Debug)]
pub struct FileFailure {
    /// Name of the file, such as `train-images-idx3-ubyte.gz`.
    pub file: String,
    /// The mirrors tried, in order; empty when no mirror was given.
    pub attempts: Vec<Attempt>,
}

impl fmt::Display for FileFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts.is_empty() {
            return write!(formatter, "{}: no mirror to try", self.file);
        }
        write!(formatter, "{}:", self.file)?;
        for attempt in &self.attempts {
            write!(formatter, "\n    {}: {}", attempt.url, attempt.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for FileFailure {}

/// One failed try of one mirror.
#[derive(Debug)]
pub struct Attempt {
    /// The URL requested.
    pub url: String,
    /// Reason for the failure.
    pub problem: AttemptError,
}

/// Reason why one mirror did not deliver a good file.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The server responded with an HTTP error status.
    #[error("HTTP status {0}")]
    Status(u16),

    /// No response arrived: connection refused, host not found, timed out,
    /// TLS failure and the like.
    #[error("request failed: {0}")]
    Request(ureq::Error),

    /// The connection failed while the body was arriving.
    #[error("connection failed after {received} bytes of the file: {error}")]
    Body { received: u64, error: io::Error },

    /// The server sent more than [`MAX_DOWNLOAD_BYTES`].
    #[error("response is larger than {MAX_DOWNLOAD_BYTES} bytes, more than any dataset file")]
    TooLarge,

    /// The bytes arrived but have the wrong MD5.
    #[error(
        "checksum mismatch: expected MD5 {expected}, got {actual}{}",
        if *.html { " (the response looks like an HTML page, not the file)" } else { "" }
    )]
    Checksum {
        expected: String,
        actual: String,
        /// Whether the response started with `<`, as an HTML page does.
        html: bool,
    },

    /// Writing or renaming the local file failed.
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: io::Error },
}

/// Joins a mirror URL and a file name with exactly one `/`.
fn file_url(mirror: &str, name: &str) -> String {
    if mirror.ends_with('/') {
        format!("{mirror}{name}")
    } else {
        format!("{mirror}/{name}")
    }
}

/// Builds the HTTP agent for `url`, with timeouts.
///
/// The agent uses the proxy from the environment (`HTTP_PROXY`, `NO_PROXY`
/// and related variables) except for loopback hosts, which it always
/// contacts directly.
fn agent_for(url: &str) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT));
    if is_loopback_url(url) {
        config = config.proxy(None);
    }
    config.build().into()
}

/// Returns whether `url` names `localhost` or a loopback IP address.
fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Fetches `url` into a temporary file in `dest_dir`, checks its MD5 and
/// renames it to `dest_dir/name`. The temporary file is removed on every
/// error, because dropping a `NamedTempFile` deletes it.
fn fetch_verified(
    url: &str,
    name: &str,
    expected_md5: &str,
    dest_dir: &Path,
    progress: bool,
) -> Result<PathBuf, AttemptError> {
    let response = agent_for(url)
        .get(url)
        .call()
        .map_err(|error| match error {
            ureq::Error::StatusCode(code) => AttemptError::Status(code),
            other => AttemptError::Request(other),
        })?;
    let content_length = response.body().content_length();

    let write_error = |path: &Path, error: io::Error| AttemptError::Write {
        path: path.to_path_buf(),
        error,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(dest_dir)
        .map_err(|error| write_error(dest_dir, error))?;

    let bar = progress_bar(name, content_length, progress);
    let mut reader = response.into_body().into_reader();
    let copied = copy_with_md5(&mut reader, temp.as_file_mut(), &bar);
    bar.finish_and_clear();
    let (actual_md5, html) = copied.map_err(|error| match error {
        CopyError::Read { received, error } => AttemptError::Body { received, error },
        CopyError::TooLarge => AttemptError::TooLarge,
        CopyError::Write(error) => write_error(temp.path(), error),
    })?;

    if !actual_md5.eq_ignore_ascii_case(expected_md5) {
        return Err(AttemptError::Checksum {
            expected: expected_md5.to_ascii_lowercase(),
            actual: actual_md5,
            html,
        });
    }

    // The temporary file is created readable by its owner only. A dataset
    // file gets the usual mode instead.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|error| write_error(temp.path(), error))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|error| write_error(temp.path(), error))?;
    let final_path = dest_dir.join(name);
    temp.persist(&final_path)
        .map_err(|error| write_error(&final_path, error.error))?;
    Ok(final_path)
}

/// Failure of [`copy_with_md5`].
enum CopyError {
    Read { received: u64, error: io::Error },
    TooLarge,
    Write(io::Error),
}

/// Copies `reader` into `file` while computing the MD5, up to
/// [`MAX_DOWNLOAD_BYTES`]. Returns the MD5 as lowercase hex and whether the
/// data starts like an HTML page.
fn copy_with_md5(
    reader: &mut impl Read,
    file: &mut std::fs::File,
    bar: &ProgressBar,
) -> Result<(String, bool), CopyError> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    let mut html = None;

    loop {
        let count = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyError::Read { received, error }),
        };
        received += count as u64;
        if received > MAX_DOWNLOAD_BYTES {
            return Err(CopyError::TooLarge);
        }

        let chunk = &buffer[..count];
        if html.is_none() {
            html = chunk
                .iter()
                .find(|byte| !byte.is_ascii_whitespace())
                .map(|&byte| byte == b'<');
        }
        hasher.update(chunk);
        file.write_all(chunk).map_err(CopyError::Write)?;
        bar.inc(count as u64);
    }

    Ok((hex(&hasher.finalize()), html.unwrap_or(false)))
}

/// Formats bytes as lowercase hex digits without separators.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns a progress bar for downloading `name` on stderr, or a hidden one
/// when `progress` is false or stderr is not a terminal.
fn progress_bar(name: &str, content_length: Option<u64>, progress: bool) -> ProgressBar {
    if !progress || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }

    let bar = match content_length {
        Some(length) => {
            let style = ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
                .with_style(style)
        }
        None => {
            let style = ProgressStyle::with_template("{msg:28} {spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style)
        }
    };
    bar.with_message(name.to_string())
}
