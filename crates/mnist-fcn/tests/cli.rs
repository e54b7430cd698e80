//! End-to-end tests of the `mnist-fcn` program, run as a user runs it: in a
//! temporary working folder, with command-line options, reading its exit
//! status, its output and the files it writes.
//!
//! The full run and the Ctrl-C test read the real digits of
//! `$SNN_DATA_DIR/digits-t10k` (8,000 training and 2,000 test images) and
//! are skipped when `SNN_DATA_DIR` is unset, unless `CI` is set. The others
//! build small data folders of their own. No test contacts anything but
//! 127.0.0.1.

mod idx_support;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use idx_support::{real_data_dir, write_dataset};
use mnist_fcn::data::FILES;
use serde_json::Value;
use tempfile::TempDir;

const PROGRAM: &str = env!("CARGO_BIN_EXE_mnist-fcn");

/// Options that make a training run short where the test does not need the
/// tutorial's network: 100 hidden neurons, 5 time steps.
const SMALL: [&str; 4] = ["--hidden", "100", "--num-steps", "5"];

/// The four figures of a run, each written as SVG and PNG.
const FIGURES: [&str; 4] = [
    "loss_curves",
    "spike_raster",
    "membrane_traces",
    "surrogates",
];

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("creating a temporary folder")
}

/// Runs the program in `cwd` with `args` and waits for it to exit.
fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(PROGRAM)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("starting {PROGRAM}: {error}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Checks that the program exited with an error status (1, or 2 for a
/// value that the command-line parser rejects) and an error message of its
/// own (not a panic), and returns that message.
fn expect_error(output: &Output, args: &[&str]) -> String {
    let message = stderr(output);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "exit status of {args:?}: {:?}; stderr:\n{message}",
        output.status.code()
    );
    assert!(
        !message.contains("panicked"),
        "{args:?} panicked:\n{message}"
    );
    assert!(
        message.starts_with("error: ") || message.contains("\nerror: "),
        "{args:?} printed no error:\n{message}"
    );
    message
}

/// Checks that the program exited with status 0 and returns its stdout.
fn expect_success(output: &Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "{args:?} failed with {}; stderr:\n{}",
        output.status,
        stderr(output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns a mirror URL on 127.0.0.1 where nothing listens, so that any
/// download attempt fails at once.
fn closed_port_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port on 127.0.0.1");
    let port = listener.local_addr().expect("the port's address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// Returns the names of all entries in `dir`, hidden ones included, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("listing {}: {error}", dir.display()))
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

fn read_metrics(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

fn number(metrics: &Value, key: &str) -> f64 {
    metrics[key]
        .as_f64()
        .unwrap_or_else(|| panic!("metrics field {key} is not a number: {}", metrics[key]))
}

fn array_len(metrics: &Value, key: &str) -> usize {
    metrics[key]
        .as_array()
        .unwrap_or_else(|| panic!("metrics field {key} is not an array: {}", metrics[key]))
        .len()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Evaluates the weights at `weights` with `--eval-only` and returns the
/// metrics it writes to `metrics_path`.
fn evaluate(cwd: &Path, data: &Path, weights: &Path, metrics_path: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--data-dir",
        path_arg(data),
        "--load",
        path_arg(weights),
        "--eval-only",
        "--metrics-json",
        path_arg(metrics_path),
    ];
    args.extend_from_slice(extra);
    expect_success(&run(cwd, &args), &args);
    read_metrics(metrics_path)
}

// ---------------------------------------------------------------------------
// Options checked before any work

#[test]
fn invalid_numbers_rejected_first() {
    // (option, value, the value as the message prints it, part of the allowed range)
    let cases = [
        ("--batch-size", "0", "0", "at least 1"),
        ("--num-steps", "0", "0", "at least 1"),
        ("--epochs", "0", "0", "at least 1"),
        ("--hidden", "0", "0", "at least 1"),
        ("--batch-size", "-1", "-1", "at least 1"),
        ("--num-steps", "2.5", "2.5", "at least 1"),
        ("--beta", "-0.1", "-0.1", "between 0 and 1"),
        ("--beta", "1.5", "1.5", "between 0 and 1"),
        ("--beta", "nan", "NaN", "between 0 and 1"),
        ("--lr", "0", "0", "positive, finite"),
        ("--lr", "-1", "-1", "positive, finite"),
        ("--lr", "nan", "NaN", "positive, finite"),
        ("--lr", "inf", "inf", "positive, finite"),
    ];
    let mirror = closed_port_mirror();
    for (option, value, shown, allowed) in cases {
        // The run has no --data-dir and no data, so a run that got past the
        // check would create data/mnist/ for a download, and later runs/.
        let cwd = temp_dir();
        let args = [option, value, "--mirror", &mirror];
        let message = expect_error(&run(cwd.path(), &args), &args);

        assert!(
            message.contains(option),
            "{args:?}: message lacks the option:\n{message}"
        );
        assert!(
            message.contains(&format!("value {shown} ")) || message.contains(&format!("value '{shown}'")),
            "{args:?}: message lacks the value:\n{message}"
        );
        assert!(
            message.contains(allowed),
            "{args:?}: message lacks the allowed range {allowed:?}:\n{message}"
        );
        assert_eq!(
            entries(cwd.path()),
            Vec::<String>::new(),
            "{args:?} created files in the working folder"
        );
    }
}

#[test]
fn invalid_number_with_out_dir() {
    let cwd = temp_dir();
    let out = cwd.path().join("out");
    let args = [
        "--hidden",
        "0",
        "--data-dir",
        "nowhere",
        "--out-dir",
        path_arg(&out),
    ];
    let message = expect_error(&run(cwd.path(), &args), &args);

    assert!(message.contains("--hidden"), "{message}");
    assert!(!out.exists(), "the output folder was created");
}

// ---------------------------------------------------------------------------
// Finding the data

#[test]
fn offline_without_data_names_files() {
    let cwd = temp_dir();
    let mirror = closed_port_mirror();
    let args = ["--mirror", &mirror, "--quiet"];
    let message = expect_error(&run(cwd.path(), &args), &args);

    for name in FILES {
        assert!(message.contains(name), "message lacks {name}:\n{message}");
    }
    let folder = cwd.path().join("data").join("mnist");
    assert!(
        message.contains(&folder.display().to_string()),
        "message lacks the folder {}:\n{message}",
        folder.display()
    );
    assert!(
        message.contains("--data-dir"),
        "message lacks --data-dir:\n{message}"
    );

    // The download folder may exist, but it must contain no partial file.
    if folder.exists() {
        assert_eq!(
            entries(&folder),
            Vec::<String>::new(),
            "files left in {}",
            folder.display()
        );
    }
    assert!(
        !cwd.path().join("runs").exists(),
        "an output folder was created"
    );
}

#[test]
fn missing_data_dir_is_named() {
    let cwd = temp_dir();
    let args = ["--data-dir", "no-such-folder", "--out-dir", "out"];
    let message = expect_error(&run(cwd.path(), &args), &args);

    assert!(message.contains("--data-dir"), "{message}");
    assert!(message.contains("no-such-folder"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert!(
        !cwd.path().join("out").exists(),
        "the output folder was created"
    );
}

#[test]
fn data_dir_missing_file_is_named() {
    let cwd = temp_dir();
    let data = cwd.path().join("data-copy");
    write_dataset(&data, 200, 100);
    std::fs::remove_file(data.join("train-labels-idx1-ubyte.gz")).expect("removing one file");

    let args = ["--data-dir", "data-copy", "--out-dir", "out"];
    let message = expect_error(&run(cwd.path(), &args), &args);

    assert!(
        message.contains("lacks train-labels-idx1-ubyte;"),
        "{message}"
    );
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(
        !cwd.path().join("out").exists(),
        "the output folder was created"
    );
}

#[test]
fn truncated_gzip_is_named() {
    let cwd = temp_dir();
    let data = cwd.path().join("data-copy");
    write_dataset(&data, 200, 100);
    let damaged = data.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&damaged).expect("reading the gzip file");
    std::fs::write(&damaged, &bytes[..bytes.len() * 2 / 3]).expect("truncating the gzip file");

    let args = ["--data-dir", path_arg(&data), "--out-dir", "out"];
    let message = expect_error(&run(cwd.path(), &args), &args);

    assert!(
        message.contains(&damaged.display().to_string()),
        "message lacks the file:\n{message}"
    );
    assert!(
        message.contains("intact copy"),
        "message lacks the fix:\n{message}"
    );
    assert!(
        !cwd.path().join("out").exists(),
        "the output folder was created"
    );
}

#[test]
fn html_page_as_labels_is_named() {
    let cwd = temp_dir();
    let data = cwd.path().join("data-copy");
    write_dataset(&data, 200, 100);
    let page = data.join("t10k-labels-idx1-ubyte.gz");
    let html = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n\
                <body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n";
    std::fs::write(&page, html).expect("writing the HTML page");

    let args = ["--data-dir", path_arg(&data), "--out-dir", "out"];
    let message = expect_error(&run(cwd.path(), &args), &args);

    assert!(
        message.contains(&page.display().to_string()),
        "message lacks the file:\n{message}"
    );
    assert!(message.contains("not an IDX label file"), "{message}");
    assert!(message.contains("HTML"), "{message}");
    assert!(
        !cwd.path().join("out").exists(),
        "the output folder was created"
    );
}

// ---------------------------------------------------------------------------
// Training, outputs and loading weights

#[test]
fn full_run_writes_every_output() {
    let Some(data) = real_data_dir("full_run_writes_every_output", "digits-t10k") else {
        return;
    };
    let cwd = temp_dir();
    let out = cwd.path().join("out");
    let args = ["--data-dir", path_arg(&data), "--out-dir", path_arg(&out)];
    let stdout = expect_success(&run(cwd.path(), &args), &args);
    assert!(
        stdout.contains("Epoch 0, Iteration 0"),
        "no progress report:\n{stdout}"
    );
    assert!(
        stdout.contains("Test Set Accuracy"),
        "no final accuracy:\n{stdout}"
    );

    let metrics = read_metrics(&out.join("metrics.json"));
    let accuracy = number(&metrics, "test_accuracy");
    let accuracy_membrane = number(&metrics, "test_accuracy_membrane");
    assert!((0.0..=1.0).contains(&accuracy), "test_accuracy {accuracy}");
    assert!(
        (0.0..=1.0).contains(&accuracy_membrane),
        "test_accuracy_membrane {accuracy_membrane}"
    );
    assert_eq!(metrics["test_images"], 2000);
    assert!(
        number(&metrics, "train_seconds") > 0.0,
        "train_seconds {}",
        metrics["train_seconds"]
    );
    // 8,000 training images in batches of 128, the last partial batch dropped.
    assert_eq!(array_len(&metrics, "train_loss"), 62);
    assert_eq!(array_len(&metrics, "test_loss"), 62);
    assert_eq!(metrics["iterations"], 62);
    assert_eq!(metrics["interrupted"], false);

    let weights = out.join("weights.safetensors");
    assert!(weights.is_file(), "{} is missing", weights.display());
    let figures = entries(&out.join("figures"));
    for stem in FIGURES {
        for extension in ["svg", "png"] {
            let name = format!("{stem}.{extension}");
            assert!(
                figures.contains(&name),
                "figures/{name} is missing; figures/ holds {figures:?}"
            );
        }
    }

    // Evaluating the saved weights reproduces the run's accuracies exactly,
    // and an --eval-only run writes only the metrics file it was given.
    let eval_cwd = temp_dir();
    let eval_metrics = eval_cwd.path().join("eval.json");
    let evaluated = evaluate(eval_cwd.path(), &data, &weights, &eval_metrics, &[]);
    assert_eq!(number(&evaluated, "test_accuracy"), accuracy);
    assert_eq!(
        number(&evaluated, "test_accuracy_membrane"),
        accuracy_membrane
    );
    assert_eq!(entries(eval_cwd.path()), vec!["eval.json".to_string()]);
}

#[test]
fn load_rejects_other_hidden_size() {
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    let weights = cwd.path().join("hidden50.safetensors");
    let train = [
        "--data-dir",
        path_arg(&data),
        "--hidden",
        "50",
        "--num-steps",
        "5",
        "--out-dir",
        "small",
        "--save",
        path_arg(&weights),
        "--quiet",
    ];
    expect_success(&run(cwd.path(), &train), &train);

    // The default network has 1000 hidden neurons.
    let args = [
        "--data-dir",
        path_arg(&data),
        "--load",
        path_arg(&weights),
        "--eval-only",
        "--metrics-json",
        "eval.json",
    ];
    let message = expect_error(&run(cwd.path(), &args), &args);
    assert!(
        message.contains(&weights.display().to_string()),
        "message lacks the file:\n{message}"
    );
    assert!(
        message.contains("fc1.weight"),
        "message lacks the tensor:\n{message}"
    );
    assert!(
        message.contains("[50, 784]"),
        "message lacks the saved shape:\n{message}"
    );
    assert!(
        message.contains("[1000, 784]"),
        "message lacks the expected shape:\n{message}"
    );
    assert!(
        message.contains("--hidden"),
        "message lacks the fix:\n{message}"
    );
    assert!(
        !cwd.path().join("eval.json").exists(),
        "a metrics file was written"
    );

    // With the saved network's sizes the same file loads.
    let metrics = evaluate(
        cwd.path(),
        &data,
        &weights,
        &cwd.path().join("eval.json"),
        &["--hidden", "50", "--num-steps", "5"],
    );
    assert_eq!(metrics["test_images"], 100);
}

#[test]
fn load_rejects_non_safetensors() {
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    let not_weights = cwd.path().join("weights.safetensors");
    std::fs::write(&not_weights, "fc1.weight,fc1.bias\n0.1,0.2\n").expect("writing a CSV file");

    let args = [
        "--data-dir",
        path_arg(&data),
        "--load",
        path_arg(&not_weights),
        "--eval-only",
        "--metrics-json",
        "eval.json",
    ];
    let message = expect_error(&run(cwd.path(), &args), &args);
    assert!(
        message.contains(&not_weights.display().to_string()),
        "message lacks the file:\n{message}"
    );
    assert!(message.contains("not a safetensors file"), "{message}");
    assert!(
        message.contains("--save"),
        "message lacks the fix:\n{message}"
    );
    assert!(
        !cwd.path().join("eval.json").exists(),
        "a metrics file was written"
    );
}

#[test]
fn metrics_json_and_save_paths() {
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    let metrics_path = cwd.path().join("reports").join("run.json");
    let weights = cwd.path().join("models").join("small.safetensors");
    let mut args = vec!["--data-dir", path_arg(&data), "--out-dir", "out", "--quiet"];
    args.extend([
        "--metrics-json",
        path_arg(&metrics_path),
        "--save",
        path_arg(&weights),
    ]);
    args.extend(SMALL);
    let stdout = expect_success(&run(cwd.path(), &args), &args);

    assert!(
        metrics_path.is_file(),
        "{} is missing",
        metrics_path.display()
    );
    assert!(weights.is_file(), "{} is missing", weights.display());
    assert!(
        stdout.contains(&format!("Metrics written to {}", metrics_path.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Weights written to {}", weights.display())),
        "{stdout}"
    );
    // The figures stay in the out dir, without the two relocated files.
    let out = entries(&cwd.path().join("out"));
    assert_eq!(out, vec!["figures".to_string()]);
    assert_eq!(read_metrics(&metrics_path)["hidden"], 100);
}

#[test]
fn eval_only_needs_test_files_only() {
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    let mut args = vec!["--data-dir", path_arg(&data), "--out-dir", "out", "--quiet"];
    args.extend(SMALL);
    expect_success(&run(cwd.path(), &args), &args);
    let weights = cwd.path().join("out").join("weights.safetensors");

    // A folder with the test files alone.
    let test_only = cwd.path().join("test-only");
    std::fs::create_dir(&test_only).expect("creating the test-only folder");
    for entry in std::fs::read_dir(&data).expect("listing the data folder") {
        let path = entry.expect("a folder entry").path();
        let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        if name.starts_with("t10k-") {
            std::fs::copy(&path, test_only.join(&name)).expect("copying a test file");
        }
    }
    let full = evaluate(cwd.path(), &data, &weights, &cwd.path().join("full.json"), &SMALL);
    let tested = evaluate(cwd.path(), &test_only, &weights, &cwd.path().join("test-only.json"), &SMALL);
    assert_eq!(tested["test_images"], 100);
    assert_eq!(tested["train_images"], 0, "no training images were read");
    assert_eq!(tested["test_correct_membrane"], full["test_correct_membrane"]);
    assert_eq!(tested["test_correct"], full["test_correct"]);

    // Without the test labels, the error names them.
    for entry in std::fs::read_dir(&test_only).expect("listing the test-only folder") {
        let path = entry.expect("a folder entry").path();
        if path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("t10k-labels")) {
            std::fs::remove_file(&path).expect("removing the test labels");
        }
    }
    let mut args = vec!["--data-dir", path_arg(&test_only), "--load", path_arg(&weights), "--eval-only", "--out-dir", "eval"];
    args.extend(SMALL);
    let message = expect_error(&run(cwd.path(), &args), &args);
    assert!(message.contains("lacks t10k-labels-idx1-ubyte"), "{message}");
    assert!(message.contains("test files"), "{message}");
}

#[test]
fn missing_load_file_named_before_data() {
    let cwd = temp_dir();
    let weights = cwd.path().join("absent.safetensors");
    let no_data = cwd.path().join("no-data-here");
    let args = ["--load", path_arg(&weights), "--data-dir", path_arg(&no_data), "--quiet"];
    let message = expect_error(&run(cwd.path(), &args), &args);
    assert!(message.contains("absent.safetensors"), "{message}");
    assert!(!message.contains("no-data-here"), "the data folder was looked at first:\n{message}");
}

#[test]
fn unwritable_outputs_fail_before_training() {
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    // A plain file where a folder should be: no folder can be created below it.
    let blocker = cwd.path().join("blocker");
    std::fs::write(&blocker, b"not a folder").expect("writing the blocking file");
    let below = blocker.join("run");
    let cases: [(&str, &Path, &str); 3] = [
        ("--out-dir", &blocker, "--out-dir"),
        ("--save", &below.join("weights.safetensors"), "--save"),
        ("--metrics-json", &below.join("metrics.json"), "--metrics-json"),
    ];
    for (option, path, named) in cases {
        let mut args = vec!["--data-dir", path_arg(&data), "--quiet", option, path_arg(path)];
        args.extend(SMALL);
        let output = run(cwd.path(), &args);
        let message = expect_error(&output, &args);
        assert!(message.contains("is not a folder"), "{message}");
        assert!(message.contains(named), "{args:?} should name {named}:\n{message}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("Training time"), "{args:?} trained first:\n{stdout}");
        // Nothing of the run was written, not even the metrics.
        assert_eq!(entries(cwd.path()), vec!["blocker".to_string(), "digits".to_string()], "{args:?}");
    }
}

// ---------------------------------------------------------------------------
// Ctrl-C

/// Sends SIGINT to the process `pid` only.
fn send_sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap_or_else(|error| panic!("running kill: {error}"));
    assert!(status.success(), "kill -INT {pid} failed: {status}");
}

#[test]
fn ctrl_c_saves_and_exits_130() {
    let Some(data) = real_data_dir("ctrl_c_saves_and_exits_130", "digits-t10k") else {
        return;
    };
    let cwd = temp_dir();
    let out = cwd.path().join("out");
    // The tutorial's network, so that 3 epochs (186 iterations) take several
    // seconds and the signal arrives long before the end.
    let args = [
        "--data-dir",
        path_arg(&data),
        "--out-dir",
        path_arg(&out),
        "--epochs",
        "3",
        "--report-every",
        "1",
    ];
    let mut child = Command::new(PROGRAM)
        .args(args)
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {PROGRAM}: {error}"));

    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut seen = String::new();
    let mut signalled = false;
    let mut line = String::new();
    while stdout
        .read_line(&mut line)
        .expect("reading the program's stdout")
        > 0
    {
        seen.push_str(&line);
        if !signalled && line.trim_end() == "Epoch 0, Iteration 1" {
            send_sigint(child.id());
            signalled = true;
        }
        line.clear();
    }
    let status = child.wait().expect("waiting for the program");
    let mut message = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut message)
        .expect("reading stderr");
    assert!(
        signalled,
        "the program never printed \"Epoch 0, Iteration 1\"; stdout:\n{seen}\nstderr:\n{message}"
    );

    assert_eq!(status.code(), Some(130), "exit status; stderr:\n{message}");
    assert!(
        message.contains("interrupted"),
        "stderr does not say it was interrupted:\n{message}"
    );
    assert!(!message.contains("panicked"), "{message}");

    let metrics = read_metrics(&out.join("metrics.json"));
    assert_eq!(metrics["interrupted"], true);
    let iterations = metrics["iterations"]
        .as_u64()
        .expect("iterations is a number");
    assert!(
        iterations >= 2,
        "iterations {iterations}: two had run before the signal"
    );
    assert!(
        iterations < 186,
        "iterations {iterations}: the run was not stopped"
    );
    assert_eq!(array_len(&metrics, "train_loss") as u64, iterations);

    let weights = out.join("weights.safetensors");
    assert!(weights.is_file(), "{} is missing", weights.display());
    let evaluated = evaluate(
        cwd.path(),
        &data,
        &weights,
        &cwd.path().join("eval.json"),
        &[],
    );
    assert_eq!(
        number(&evaluated, "test_accuracy_membrane"),
        number(&metrics, "test_accuracy_membrane")
    );
}

// ---------------------------------------------------------------------------
// Closed stdout

#[test]
fn closed_stdout_still_saves() {
    // As in `mnist-fcn | head -1`: the reader goes away before the program
    // prints, so every later write to stdout fails with a broken pipe.
    let cwd = temp_dir();
    let data = cwd.path().join("digits");
    write_dataset(&data, 300, 100);
    let mut args = vec!["--data-dir", path_arg(&data), "--out-dir", "out"];
    args.extend(SMALL);
    let mut child = Command::new(PROGRAM)
        .args(&args)
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {PROGRAM}: {error}"));
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("waiting for the program");

    let message = stderr(&output);
    assert!(
        !message.contains("panicked"),
        "{args:?} panicked:\n{message}"
    );
    assert!(
        output.status.success(),
        "{args:?} failed with {}; stderr:\n{message}",
        output.status
    );
    assert!(
        cwd.path().join("out").join("metrics.json").is_file(),
        "metrics.json is missing"
    );
    assert!(
        cwd.path().join("out").join("weights.safetensors").is_file(),
        "weights.safetensors is missing"
    );
}
