//! The IDX reader and the data search on files that the tests write, each
//! error case checked for a message that names the file and the problem,
//! and the reader on the real data under `SNN_DATA_DIR`.

mod idx_support;

use std::fmt::Debug;
use std::io::Read;
use std::path::Path;

use idx_support::{
    gzip, image_file, label_file, pattern, real_data_dir, valid_image_file, valid_label_file,
    write_dataset, write_file,
};
use mnist_fcn::data::{self, DataError, Dataset, FILES};
use mnist_fcn::idx::{read_images, read_labels};
use tempfile::TempDir;

/// Returns the error's message, failing the test when `result` is `Ok`.
fn error_message<T: Debug>(result: Result<T, DataError>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(error) => error.to_string(),
    }
}

/// Asserts that `message` contains each of `parts`, one assert per part.
fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("creating a temporary folder")
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn missing_file_is_named() {
    let dir = temp_dir();
    let path = dir.path().join("train-images-idx3-ubyte.gz");

    let message = error_message(read_images(&path));
    assert_mentions(&message, &[&path_text(&path), "file not found"]);

    let message = error_message(read_labels(&path));
    assert_mentions(&message, &[&path_text(&path), "file not found"]);
}

#[test]
fn empty_file_is_rejected() {
    let dir = temp_dir();
    let path = write_file(dir.path(), "t10k-labels-idx1-ubyte", b"");

    let message = error_message(read_labels(&path));
    assert_mentions(&message, &[&path_text(&path), "is empty (0 bytes)"]);
}

#[test]
fn raw_data_under_gz_name_reads() {
    let dir = temp_dir();
    let images_path = write_file(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &valid_image_file(3),
    );
    let labels_path = write_file(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &valid_label_file(3),
    );

    let images = read_images(&images_path).expect("raw images under a .gz name");
    assert_eq!(images.count, 3);
    assert_eq!((images.rows, images.cols), (28, 28));
    assert_eq!(images.pixels, pattern(3 * 784));
    assert_eq!(images.image(1), &pattern(3 * 784)[784..2 * 784]);

    let labels = read_labels(&labels_path).expect("raw labels under a .gz name");
    assert_eq!(labels, vec![0, 1, 2]);
}

#[test]
fn gzip_data_under_raw_name_reads() {
    let dir = temp_dir();
    let images_path = write_file(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &gzip(&valid_image_file(5)),
    );
    let labels_path = write_file(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &gzip(&valid_label_file(5)),
    );

    let images = read_images(&images_path).expect("gzip images under a raw name");
    assert_eq!(images.count, 5);
    assert_eq!(images.pixels, pattern(5 * 784));

    let labels = read_labels(&labels_path).expect("gzip labels under a raw name");
    assert_eq!(labels, vec![0, 1, 2, 3, 4]);
}

#[test]
fn multi_member_gzip_reads() {
    // Concatenated gzip members form one valid gzip file (RFC 1952).
    let dir = temp_dir();
    let file = valid_label_file(20);
    let mut bytes = gzip(&file[..11]);
    bytes.extend(gzip(&file[11..]));
    let path = write_file(dir.path(), "labels.gz", &bytes);

    let labels = read_labels(&path).expect("two gzip members");
    assert_eq!(labels.len(), 20);
}

#[test]
fn wrong_magic_is_rejected() {
    let dir = temp_dir();
    let mut bytes = valid_image_file(1);
    bytes[..4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    let path = write_file(dir.path(), "train-images-idx3-ubyte", &bytes);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "not an IDX image file",
            "12 34 56 78",
            "00 00 08 03",
        ],
    );
}

#[test]
fn swapped_files_are_named_as_such() {
    let dir = temp_dir();
    let labels_path = write_file(
        dir.path(),
        "train-labels-idx1-ubyte",
        &gzip(&valid_label_file(4)),
    );
    let images_path = write_file(dir.path(), "train-images-idx3-ubyte", &valid_image_file(4));

    let message = error_message(read_images(&labels_path));
    assert_mentions(
        &message,
        &[
            &path_text(&labels_path),
            "it is an IDX label file",
            "swapped",
        ],
    );

    let message = error_message(read_labels(&images_path));
    assert_mentions(
        &message,
        &[
            &path_text(&images_path),
            "it is an IDX image file",
            "swapped",
        ],
    );
}

#[test]
fn html_page_is_recognized() {
    let dir = temp_dir();
    let page = b"<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n";
    let path = write_file(dir.path(), "train-images-idx3-ubyte.gz", page);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "not an IDX image file",
            "it looks like an HTML page, perhaps an error page saved by a failed download",
        ],
    );
}

#[test]
fn short_html_page_is_recognized() {
    // Fewer bytes than a magic number, but the `<` already shows it.
    let dir = temp_dir();
    let path = write_file(dir.path(), "t10k-labels-idx1-ubyte", b" <a");

    let message = error_message(read_labels(&path));
    assert_mentions(&message, &[&path_text(&path), "it looks like an HTML page"]);
}

#[test]
fn doubly_compressed_file_is_named() {
    let dir = temp_dir();
    let path = write_file(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&gzip(&valid_label_file(3))),
    );

    let message = error_message(read_labels(&path));
    assert_mentions(
        &message,
        &[&path_text(&path), "gzip-compressed a second time"],
    );
}

#[test]
fn short_header_is_rejected() {
    let dir = temp_dir();
    let path = write_file(dir.path(), "images", &valid_image_file(1)[..10]);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[&path_text(&path), "ends after 10 bytes", "16-byte header"],
    );

    let path = write_file(dir.path(), "images.gz", &gzip(&valid_image_file(1)[..10]));
    let message = error_message(read_images(&path));
    assert_mentions(&message, &[&path_text(&path), "ends after 10 bytes"]);
}

#[test]
fn huge_image_count_is_rejected_raw() {
    let dir = temp_dir();
    let bytes = image_file(4_000_000_000, 28, 28, &pattern(784));
    let path = write_file(dir.path(), "train-images-idx3-ubyte", &bytes);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "header declares 4000000000 images of 28x28 = 3136000000000 bytes",
            "the file contains only 784 bytes after the header",
        ],
    );
}

#[test]
fn huge_image_count_is_rejected_gzip() {
    let dir = temp_dir();
    let bytes = gzip(&image_file(4_000_000_000, 28, 28, &pattern(784)));
    let path = write_file(dir.path(), "train-images-idx3-ubyte.gz", &bytes);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "header declares 4000000000 images of 28x28 = 3136000000000 bytes",
            "decompresses to at most",
        ],
    );
}

#[test]
fn gzip_shorter_than_header_is_rejected() {
    // A count that compression could reach, but the data is not there.
    let dir = temp_dir();
    let bytes = gzip(&image_file(100, 28, 28, &pattern(2 * 784)));
    let path = write_file(dir.path(), "train-images-idx3-ubyte.gz", &bytes);

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "header declares 100 images of 28x28 = 78400 bytes",
            "only 1568 bytes after the header (after decompression)",
        ],
    );
}

#[test]
fn huge_label_count_is_rejected() {
    let dir = temp_dir();
    let path = write_file(
        dir.path(),
        "train-labels-idx1-ubyte",
        &label_file(u32::MAX, &[1, 2, 3]),
    );

    let message = error_message(read_labels(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "header declares 4294967295 labels = 4294967295 bytes",
            "only 3 bytes",
        ],
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let dir = temp_dir();
    let mut bytes = valid_image_file(2);
    bytes.extend_from_slice(&[7; 100]);

    let path = write_file(dir.path(), "raw-images", &bytes);
    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[
            &path_text(&path),
            "header declares 2 images of 28x28 = 1568 bytes",
            "100 more bytes follow them",
        ],
    );

    let path = write_file(dir.path(), "gzip-images", &gzip(&bytes));
    let message = error_message(read_images(&path));
    assert_mentions(&message, &[&path_text(&path), "100 more bytes follow them"]);
}

#[test]
fn image_size_27x28_is_rejected() {
    let dir = temp_dir();
    let bytes = image_file(2, 27, 28, &pattern(2 * 27 * 28));
    let path = write_file(dir.path(), "train-images-idx3-ubyte.gz", &gzip(&bytes));

    let message = error_message(read_images(&path));
    assert_mentions(
        &message,
        &[&path_text(&path), "27x28 images", "needs 28x28"],
    );
}

#[test]
fn label_10_is_rejected() {
    let dir = temp_dir();
    let path = write_file(
        dir.path(),
        "train-labels-idx1-ubyte",
        &label_file(4, &[3, 9, 0, 10]),
    );

    let message = error_message(read_labels(&path));
    assert_mentions(
        &message,
        &[&path_text(&path), "label 3 is 10", "from 0 to 9"],
    );
}

#[test]
fn truncated_gzip_is_rejected() {
    let dir = temp_dir();
    let compressed = gzip(&valid_image_file(50));
    for cut in [compressed.len() - 4, compressed.len() / 2, 12] {
        let path = write_file(dir.path(), &format!("cut-at-{cut}.gz"), &compressed[..cut]);

        let message = error_message(read_images(&path));
        assert_mentions(
            &message,
            &[&path_text(&path), "gzip data is corrupt or truncated"],
        );
    }
}

#[test]
fn corrupt_gzip_is_rejected() {
    let dir = temp_dir();
    let mut compressed = gzip(&valid_label_file(300));
    let middle = compressed.len() / 2;
    compressed[middle] ^= 0xff;
    let path = write_file(dir.path(), "t10k-labels-idx1-ubyte.gz", &compressed);

    let message = error_message(read_labels(&path));
    assert_mentions(&message, &[&path_text(&path)]);
    assert!(
        message.contains("gzip data is corrupt") || message.contains("label"),
        "message {message:?} reports neither corrupt gzip data nor a bad label"
    );
}

#[test]
fn counts_disagree_between_files() {
    let dir = temp_dir();
    let images_path = write_file(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(6)),
    );
    let labels_path = write_file(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&valid_label_file(5)),
    );

    let message = error_message(data::load_split(&images_path, &labels_path));
    assert_mentions(
        &message,
        &[
            &path_text(&images_path),
            "6 images",
            &path_text(&labels_path),
            "5 labels",
        ],
    );
}

#[test]
fn split_without_images_is_rejected() {
    let dir = temp_dir();
    let images_path = write_file(dir.path(), "images", &valid_image_file(0));
    let labels_path = write_file(dir.path(), "labels", &valid_label_file(0));

    let message = error_message(data::load_split(&images_path, &labels_path));
    assert_mentions(&message, &[&path_text(&images_path), "0 images"]);
}

#[test]
fn load_dir_reads_raw_and_gzip_names() {
    let dir = temp_dir();
    write_file(dir.path(), "train-images-idx3-ubyte", &valid_image_file(7));
    write_file(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gzip(&valid_label_file(7)),
    );
    write_file(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(3)),
    );
    write_file(dir.path(), "t10k-labels-idx1-ubyte", &valid_label_file(3));

    let loaded = data::load_dir(dir.path()).expect("a folder of mixed raw and gzip files");
    assert_eq!(loaded.train.images.count, 7);
    assert_eq!(loaded.train.labels.len(), 7);
    assert_eq!(loaded.test.images.count, 3);
    assert_eq!(loaded.test.labels, vec![0, 1, 2]);
    assert_eq!(loaded.dir, dir.path());
}

#[test]
fn load_dir_names_missing_files() {
    let dir = temp_dir();
    write_file(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(1)),
    );
    write_file(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gzip(&valid_label_file(1)),
    );

    let message = error_message(data::load_dir(dir.path()));
    assert_mentions(
        &message,
        &[
            &path_text(dir.path()),
            "lacks t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        ],
    );
}

#[test]
fn locate_uses_data_dir_only() {
    let cwd = temp_dir();
    write_dataset(&cwd.path().join("data/mnist"), 2, 2);
    let data_dir = cwd.path().join("elsewhere");
    std::fs::create_dir(&data_dir).expect("creating the --data-dir folder");
    write_file(
        &data_dir,
        "train-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(1)),
    );

    // The default folder contains the files, but --data-dir wins and lacks three.
    let message = error_message(data::locate(
        Dataset::Mnist,
        Some(Path::new("elsewhere")),
        cwd.path(),
    ));
    assert_mentions(
        &message,
        &[
            "--data-dir",
            &path_text(&data_dir),
            "lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        ],
    );

    let message = error_message(data::locate(
        Dataset::Mnist,
        Some(Path::new("nowhere")),
        cwd.path(),
    ));
    assert_mentions(
        &message,
        &[
            "--data-dir",
            &path_text(&cwd.path().join("nowhere")),
            "folder not found",
        ],
    );
}

#[test]
fn locate_finds_data_under_cwd() {
    let cwd = temp_dir();
    write_dataset(&cwd.path().join("data/mnist"), 2, 2);

    let found = data::locate(Dataset::Mnist, None, cwd.path()).expect("data/mnist/ under cwd");
    assert_eq!(found, cwd.path().join("data/mnist"));

    let data_dir = data::locate(
        Dataset::Mnist,
        Some(&cwd.path().join("data/mnist")),
        Path::new("/"),
    )
    .expect("an absolute --data-dir");
    assert_eq!(data_dir, cwd.path().join("data/mnist"));
}

#[test]
fn locate_reports_what_it_searched() {
    let cwd = temp_dir();
    // An incomplete folder does not count as found.
    std::fs::create_dir_all(cwd.path().join("data/mnist")).expect("creating data/mnist");
    write_file(
        &cwd.path().join("data/mnist"),
        "train-images-idx3-ubyte.gz",
        b"x",
    );

    let message = error_message(data::locate(Dataset::Mnist, None, cwd.path()));
    let mut expected = vec!["no MNIST data found", "looked in", "--data-dir DIR"];
    expected.extend(FILES);
    let searched = path_text(&cwd.path().join("data/mnist"));
    expected.push(&searched);
    assert_mentions(&message, &expected);
    assert!(
        !message.contains("apt-get"),
        "message {message:?} offers the Fashion-MNIST package for MNIST"
    );
}

#[test]
fn locate_fashion_mentions_debian_package() {
    if Path::new(data::DEBIAN_FASHION_DIR).is_dir() {
        eprintln!(
            "locate_fashion_mentions_debian_package: skipped, because dataset-fashion-mnist is installed"
        );
        return;
    }
    let cwd = temp_dir();

    let message = error_message(data::locate(Dataset::Fashion, None, cwd.path()));
    assert_mentions(
        &message,
        &[
            "no Fashion-MNIST data found",
            &path_text(&cwd.path().join("data/fashion")),
            data::DEBIAN_FASHION_DIR,
            "--data-dir DIR",
            "apt-get install dataset-fashion-mnist",
        ],
    );
}

#[test]
fn locate_fashion_finds_debian_package() {
    let debian = Path::new(data::DEBIAN_FASHION_DIR);
    if !debian.is_dir() {
        eprintln!(
            "locate_fashion_finds_debian_package: skipped, because dataset-fashion-mnist is not installed"
        );
        return;
    }
    let cwd = temp_dir();

    let found =
        data::locate(Dataset::Fashion, None, cwd.path()).expect("Debian's Fashion-MNIST folder");
    assert_eq!(found, debian);

    let loaded = data::load_dir(&found).expect("reading Debian's Fashion-MNIST");
    assert_eq!(loaded.train.images.count, 60_000);
    assert_eq!(loaded.test.images.count, 10_000);
    assert!(loaded.train.labels.iter().all(|&label| label <= 9));
}

#[test]
fn dataset_names_match_cli() {
    use clap::ValueEnum;

    assert_eq!(Dataset::Mnist.name(), "mnist");
    assert_eq!(Dataset::Fashion.name(), "fashion");
    for dataset in Dataset::value_variants() {
        let value = dataset
            .to_possible_value()
            .expect("every dataset is a CLI value");
        assert_eq!(value.get_name(), dataset.name());
    }
}

#[test]
fn digits_t10k_reads() {
    let Some(dir) = real_data_dir("digits_t10k_reads", "digits-t10k") else {
        return;
    };

    let loaded = data::load_dir(&dir).expect("reading digits-t10k");
    assert_eq!(loaded.train.images.count, 8000);
    assert_eq!(loaded.train.labels.len(), 8000);
    assert_eq!(loaded.test.images.count, 2000);
    assert_eq!(loaded.test.labels.len(), 2000);
    assert_eq!(loaded.train.images.pixels.len(), 8000 * 784);
    assert!(loaded.train.labels.iter().all(|&label| label <= 9));
    assert!(loaded.test.labels.iter().all(|&label| label <= 9));
    // Every digit occurs in both splits.
    for digit in 0..10 {
        assert!(
            loaded.train.labels.contains(&digit),
            "no {digit} among the training labels"
        );
        assert!(
            loaded.test.labels.contains(&digit),
            "no {digit} among the test labels"
        );
    }
}

#[test]
fn mnist_t10k_reads() {
    let Some(dir) = real_data_dir("mnist_t10k_reads", "mnist-t10k") else {
        return;
    };

    let images =
        read_images(&dir.join("t10k-images-idx3-ubyte.gz")).expect("reading the MNIST test images");
    let labels =
        read_labels(&dir.join("t10k-labels-idx1-ubyte.gz")).expect("reading the MNIST test labels");
    let train_labels = read_labels(&dir.join("train-labels-idx1-ubyte.gz"))
        .expect("reading the MNIST training labels");

    assert_eq!(images.count, 10_000);
    assert_eq!(labels.len(), 10_000);
    assert_eq!(train_labels.len(), 60_000);
    // The first test digit of MNIST is a 7, the first training digit a 5.
    assert_eq!(labels[0], 7);
    assert_eq!(train_labels[0], 5);
    assert!(images.pixels.contains(&255));
}

/// Cross-checks our reader against the `mnist` crate (0.6) on the real MNIST
/// test set. That crate reads only uncompressed files and always reads a
/// 60,000-image training file too, so the test decompresses the test files
/// and writes a training file of blank images beside them.
#[test]
fn mnist_crate_agrees() {
    let Some(dir) = real_data_dir("mnist_crate_agrees", "mnist-t10k") else {
        return;
    };
    let work = temp_dir();
    for name in [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "train-labels-idx1-ubyte",
    ] {
        let compressed =
            std::fs::read(dir.join(format!("{name}.gz"))).expect("reading a real MNIST file");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut raw)
            .expect("decompressing a real MNIST file");
        write_file(work.path(), name, &raw);
    }
    write_file(
        work.path(),
        "train-images-idx3-ubyte",
        &image_file(60_000, 28, 28, &vec![0; 60_000 * 784]),
    );

    let base_path = work.path().to_str().expect("a UTF-8 temporary path");
    let theirs = mnist::MnistBuilder::new().base_path(base_path).finalize();
    let ours = data::load_dir(work.path()).expect("reading the decompressed files");

    assert_eq!(theirs.tst_img, ours.test.images.pixels);
    assert_eq!(theirs.tst_lbl, ours.test.labels);
    assert_eq!(theirs.trn_lbl, ours.train.labels);
}
