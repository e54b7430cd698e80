//! The downloader against HTTP servers that the tests start on 127.0.0.1.
//! No test contacts any other address.
//!
//! The good files are the real MNIST files under `$SNN_DATA_DIR/mnist-t10k`,
//! which carry the published MD5 sums. Only three of the four exist there,
//! so the training images are never served with their real bytes.

mod idx_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use idx_support::{gzip, image_file, pattern, real_data_dir};
use mnist_fcn::data::{self, DataError, Dataset};
use mnist_fcn::download::{self, AttemptError, FileFailure};
use tempfile::TempDir;

/// A canned HTTP response.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    /// Content-Length to send instead of the body's length, so that the
    /// connection closes before the declared length arrives.
    declared_length: Option<usize>,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            body,
            declared_length: None,
        }
    }

    fn status(status: u16) -> Self {
        Reply {
            status,
            body: format!("status {status}\n").into_bytes(),
            declared_length: None,
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that responds to each request by path from a
/// fixed table, 404 for unknown paths, and closes every connection after
/// one response. It records the paths requested and stops when dropped.
struct TestServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(routes: HashMap<String, Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port on 127.0.0.1");
        let address = listener.local_addr().expect("the test server's address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));

        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    serve_one(stream, &routes, &requests);
                }
            })
        };

        TestServer {
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Returns the URL of folder `prefix` on this server, ending in `/`.
    fn mirror(&self, prefix: &str) -> String {
        format!("http://{}/{prefix}/", self.address)
    }

    /// Returns the paths requested so far, in order.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("the request log").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it checks the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and writes the reply for its path.
fn serve_one(stream: TcpStream, routes: &HashMap<String, Reply>, requests: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("setting a read timeout");
    let mut reader = BufReader::new(&stream);

    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let Some(path) = request_line.split_whitespace().nth(1) else {
        return;
    };
    requests
        .lock()
        .expect("the request log")
        .push(path.to_string());

    let reply = routes
        .get(path)
        .cloned()
        .unwrap_or_else(|| Reply::status(404));
    let length = reply.declared_length.unwrap_or(reply.body.len());
    let head = format!(
        "HTTP/1.1 {} Test\r\nContent-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        reply.status
    );
    let mut writer = &stream;
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&reply.body);
    let _ = writer.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// Returns a URL on 127.0.0.1 where nothing listens, so connecting fails.
fn closed_port_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port on 127.0.0.1");
    let address = listener.local_addr().expect("the closed port's address");
    drop(listener);
    format!("http://{address}/closed/")
}

/// Returns the names of all entries in `dir`, hidden ones included, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("listing the destination folder")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("creating a temporary folder")
}

/// Returns the file's only attempt, failing the test unless there was one.
fn only_problem(failure: &FileFailure) -> &AttemptError {
    assert_eq!(failure.attempts.len(), 1, "attempts: {failure}");
    &failure.attempts[0].problem
}

/// Reads `$SNN_DATA_DIR/mnist-t10k/NAME`.
fn real_file(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|error| panic!("reading {name}: {error}"))
}

/// Returns the published MD5 of MNIST file `name`.
fn mnist_md5(name: &str) -> &'static str {
    download::remote_files(Dataset::Mnist)
        .iter()
        .find(|file| file.name == name)
        .unwrap_or_else(|| panic!("{name} is not an MNIST file"))
        .md5
}

const T10K_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

#[test]
fn good_file_downloads() {
    let Some(real) = real_data_dir("good_file_downloads", "mnist-t10k") else {
        return;
    };
    let bytes = real_file(&real, T10K_LABELS);
    let server = TestServer::start(HashMap::from([(
        format!("/m/{T10K_LABELS}"),
        Reply::ok(bytes.clone()),
    )]));
    let dest = temp_dir();

    let path = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &[server.mirror("m")],
        false,
    )
    .expect("the real file with its published MD5");

    assert_eq!(path, dest.path().join(T10K_LABELS));
    assert_eq!(std::fs::read(&path).expect("reading the download"), bytes);
    assert_eq!(entries(dest.path()), vec![T10K_LABELS.to_string()]);
    assert_eq!(server.requests(), vec![format!("/m/{T10K_LABELS}")]);
}

#[test]
fn wrong_checksum_leaves_nothing() {
    let body = pattern(5000);
    let server = TestServer::start(HashMap::from([(
        format!("/m/{T10K_LABELS}"),
        Reply::ok(body),
    )]));
    let dest = temp_dir();

    let failure = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &[server.mirror("m")],
        false,
    )
    .expect_err("bytes with another MD5");

    match only_problem(&failure) {
        AttemptError::Checksum {
            expected,
            actual,
            html,
        } => {
            assert_eq!(expected, mnist_md5(T10K_LABELS));
            assert_ne!(actual, expected);
            assert_eq!(actual.len(), 32);
            assert!(!html);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    let message = failure.to_string();
    assert!(
        message.contains(T10K_LABELS),
        "message {message:?} lacks the file name"
    );
    assert!(
        message.contains(&server.mirror("m")),
        "message {message:?} lacks the mirror"
    );
    assert!(message.contains("checksum mismatch: expected MD5 ec29112dd5afa0611ce80d1b7f02629c"));
    assert!(
        entries(dest.path()).is_empty(),
        "left behind: {:?}",
        entries(dest.path())
    );
}

#[test]
fn html_page_with_status_200() {
    let page = b"<!DOCTYPE html>\n<html><body>Please sign in</body></html>\n".to_vec();
    let server = TestServer::start(HashMap::from([(
        format!("/m/{T10K_LABELS}"),
        Reply::ok(page),
    )]));
    let dest = temp_dir();

    let failure = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &[server.mirror("m")],
        false,
    )
    .expect_err("an HTML page");

    assert!(
        matches!(
            only_problem(&failure),
            AttemptError::Checksum { html: true, .. }
        ),
        "{failure}"
    );
    let message = failure.to_string();
    assert!(
        message.contains("looks like an HTML page"),
        "message {message:?}"
    );
    assert!(
        entries(dest.path()).is_empty(),
        "left behind: {:?}",
        entries(dest.path())
    );
}

#[test]
fn connection_cut_midway() {
    let reply = Reply {
        status: 200,
        body: pattern(5000),
        declared_length: Some(100_000),
    };
    let server = TestServer::start(HashMap::from([(format!("/m/{T10K_LABELS}"), reply)]));
    let dest = temp_dir();

    let failure = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &[server.mirror("m")],
        false,
    )
    .expect_err("a body shorter than its Content-Length");

    match only_problem(&failure) {
        AttemptError::Body { received, .. } => assert!(*received <= 5000, "received {received}"),
        other => panic!("expected a broken connection, got {other}"),
    }
    let message = failure.to_string();
    assert!(
        message.contains("connection failed after"),
        "message {message:?}"
    );
    assert!(
        entries(dest.path()).is_empty(),
        "left behind: {:?}",
        entries(dest.path())
    );
}

#[test]
fn second_mirror_after_404() {
    let Some(real) = real_data_dir("second_mirror_after_404", "mnist-t10k") else {
        return;
    };
    let bytes = real_file(&real, T10K_LABELS);
    let server = TestServer::start(HashMap::from([(
        format!("/second/{T10K_LABELS}"),
        Reply::ok(bytes.clone()),
    )]));
    let dest = temp_dir();
    let mirrors = [server.mirror("first"), server.mirror("second")];

    let path = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &mirrors,
        false,
    )
    .expect("the file from the second mirror");

    assert_eq!(std::fs::read(&path).expect("reading the download"), bytes);
    assert_eq!(
        server.requests(),
        vec![
            format!("/first/{T10K_LABELS}"),
            format!("/second/{T10K_LABELS}")
        ]
    );
    assert_eq!(entries(dest.path()), vec![T10K_LABELS.to_string()]);
}

#[test]
fn every_mirror_failure_is_listed() {
    let server = TestServer::start(HashMap::from([(
        format!("/bad/{T10K_LABELS}"),
        Reply::ok(b"not the file".to_vec()),
    )]));
    let closed = closed_port_mirror();
    let dest = temp_dir();
    // The mirror without a trailing slash gets one.
    let missing = server.mirror("missing").trim_end_matches('/').to_string();
    let mirrors = [missing.clone(), closed.clone(), server.mirror("bad")];

    let failure = download::download_file(
        T10K_LABELS,
        mnist_md5(T10K_LABELS),
        dest.path(),
        &mirrors,
        false,
    )
    .expect_err("no mirror has the file");

    assert_eq!(failure.attempts.len(), 3, "{failure}");
    assert_eq!(failure.attempts[0].url, format!("{missing}/{T10K_LABELS}"));
    assert!(
        matches!(failure.attempts[0].problem, AttemptError::Status(404)),
        "{failure}"
    );
    assert!(
        matches!(failure.attempts[1].problem, AttemptError::Request(_)),
        "{failure}"
    );
    assert!(
        matches!(failure.attempts[2].problem, AttemptError::Checksum { .. }),
        "{failure}"
    );

    let message = failure.to_string();
    assert!(message.contains("HTTP status 404"), "message {message:?}");
    assert!(
        message.contains(&format!("{closed}{T10K_LABELS}: request failed")),
        "message {message:?}"
    );
    assert!(message.contains("checksum mismatch"), "message {message:?}");
    assert!(
        entries(dest.path()).is_empty(),
        "left behind: {:?}",
        entries(dest.path())
    );
}

#[test]
fn no_mirrors_is_reported() {
    let dest = temp_dir();

    let failure =
        download::download_file(T10K_LABELS, mnist_md5(T10K_LABELS), dest.path(), &[], false)
            .expect_err("nothing to try");

    assert!(failure.attempts.is_empty());
    assert_eq!(
        failure.to_string(),
        format!("{T10K_LABELS}: no mirror to try")
    );
}

#[test]
fn dataset_download_reports_failed_file() {
    let Some(real) = real_data_dir("dataset_download_reports_failed_file", "mnist-t10k") else {
        return;
    };
    let mut routes = HashMap::new();
    for name in [
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        T10K_LABELS,
    ] {
        routes.insert(format!("/m/{name}"), Reply::ok(real_file(&real, name)));
    }
    let server = TestServer::start(routes);
    let cwd = temp_dir();
    let dest = cwd.path().join("data/mnist");

    let error = download::download(Dataset::Mnist, &dest, &[server.mirror("m")], false)
        .expect_err("the training images are not served");

    let DataError::DownloadFailed { failures, .. } = &error else {
        panic!("expected DownloadFailed, got {error}");
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].file, "train-images-idx3-ubyte.gz");
    let message = error.to_string();
    assert!(
        message.contains("downloading MNIST into"),
        "message {message:?}"
    );
    assert!(
        message.contains(&dest.display().to_string()),
        "message {message:?}"
    );
    assert!(
        message.contains("train-images-idx3-ubyte.gz:"),
        "message {message:?}"
    );
    assert!(message.contains("HTTP status 404"), "message {message:?}");
    assert!(message.contains("--data-dir DIR"), "message {message:?}");
    assert!(!message.contains("apt-get"), "message {message:?}");
    // The three good files stay, and nothing else is left.
    assert_eq!(
        entries(&dest),
        vec![
            "t10k-images-idx3-ubyte.gz".to_string(),
            T10K_LABELS.to_string(),
            "train-labels-idx1-ubyte.gz".to_string(),
        ]
    );
}

#[test]
fn fashion_failure_mentions_debian_package() {
    let cwd = temp_dir();
    let dest = cwd.path().join("data/fashion");

    let error = download::download(Dataset::Fashion, &dest, &[closed_port_mirror()], false)
        .expect_err("nothing listens on the mirror");

    let message = error.to_string();
    assert!(
        message.contains("downloading Fashion-MNIST into"),
        "message {message:?}"
    );
    assert!(
        message.contains("apt-get install dataset-fashion-mnist"),
        "message {message:?}"
    );
    for name in data::FILES {
        assert!(
            message.contains(&format!("{name}.gz:")),
            "message {message:?} lacks {name}"
        );
    }
    assert!(
        entries(&dest).is_empty(),
        "left behind: {:?}",
        entries(&dest)
    );
}

#[test]
fn find_or_download_fetches_missing_files() {
    let Some(real) = real_data_dir("find_or_download_fetches_missing_files", "mnist-t10k") else {
        return;
    };
    let mut routes = HashMap::new();
    for name in [
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        T10K_LABELS,
    ] {
        routes.insert(format!("/m/{name}"), Reply::ok(real_file(&real, name)));
    }
    let server = TestServer::start(routes);
    let cwd = temp_dir();
    // The real training images are not available, so blank ones stand in.
    // Present files are kept, and only the other three are downloaded.
    let dest = cwd.path().join("data/mnist");
    std::fs::create_dir_all(&dest).expect("creating data/mnist");
    let blank = gzip(&image_file(60_000, 28, 28, &vec![0; 60_000 * 784]));
    std::fs::write(dest.join("train-images-idx3-ubyte.gz"), blank)
        .expect("writing blank training images");

    let found = download::find_or_download(
        Dataset::Mnist,
        None,
        cwd.path(),
        &[server.mirror("m")],
        false,
    )
    .expect("downloading the three missing files");

    assert_eq!(found, dest);
    assert_eq!(server.requests().len(), 3);
    let loaded = data::load_dir(&found).expect("reading the downloaded files");
    assert_eq!(loaded.train.labels.len(), 60_000);
    assert_eq!(loaded.test.images.count, 10_000);

    // The next call finds the files and sends no request.
    let again = download::find_or_download(
        Dataset::Mnist,
        None,
        cwd.path(),
        &[server.mirror("m")],
        false,
    )
    .expect("finding the files");
    assert_eq!(again, dest);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn find_or_download_never_downloads_into_data_dir() {
    let server = TestServer::start(HashMap::new());
    let cwd = temp_dir();
    let data_dir = cwd.path().join("given");
    std::fs::create_dir(&data_dir).expect("creating the --data-dir folder");

    let error = download::find_or_download(
        Dataset::Mnist,
        Some(&data_dir),
        cwd.path(),
        &[server.mirror("m")],
        false,
    )
    .expect_err("an empty --data-dir");

    assert!(
        matches!(error, DataError::DataDirIncomplete { .. }),
        "{error}"
    );
    assert!(
        server.requests().is_empty(),
        "requests: {:?}",
        server.requests()
    );
    assert!(!cwd.path().join("data").exists());
}

#[test]
fn default_mirrors_in_order() {
    assert_eq!(
        download::default_mirrors(Dataset::Mnist),
        vec![
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ]
    );
    assert_eq!(
        download::default_mirrors(Dataset::Fashion),
        vec![
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ]
    );
}

#[test]
fn remote_files_match_data_files() {
    for dataset in [Dataset::Mnist, Dataset::Fashion] {
        let names: Vec<PathBuf> = download::remote_files(dataset)
            .iter()
            .map(|file| PathBuf::from(file.name))
            .collect();
        let expected: Vec<PathBuf> = data::FILES
            .iter()
            .map(|name| PathBuf::from(format!("{name}.gz")))
            .collect();
        assert_eq!(names, expected, "{dataset}");
    }
}

#[test]
fn published_md5_matches_real_files() {
    let Some(real) = real_data_dir("published_md5_matches_real_files", "mnist-t10k") else {
        return;
    };
    // Serving the real file proves the table's MD5 through the download path.
    for name in [
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        T10K_LABELS,
    ] {
        let server = TestServer::start(HashMap::from([(
            format!("/m/{name}"),
            Reply::ok(real_file(&real, name)),
        )]));
        let dest = temp_dir();

        let result = download::download_file(
            name,
            mnist_md5(name),
            dest.path(),
            &[server.mirror("m")],
            false,
        );
        if let Err(failure) = result {
            panic!("{name} failed its published MD5: {failure}");
        }
    }
}

#[test]
fn unwritable_destination_is_named() {
    let cwd = temp_dir();
    // A regular file where the data folder should go.
    std::fs::write(cwd.path().join("data"), b"not a folder").expect("writing a file named data");
    let dest = cwd.path().join("data/mnist");

    let error = download::download(Dataset::Mnist, &dest, &[closed_port_mirror()], false)
        .expect_err("data/ is a file");

    assert!(matches!(error, DataError::CreateDir { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&dest.display().to_string()),
        "message {message:?}"
    );
    assert!(
        message.contains("cannot create the download folder"),
        "message {message:?}"
    );
}
