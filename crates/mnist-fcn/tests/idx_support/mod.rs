//! Helpers shared by the data tests: building IDX files and finding the
//! real data under `SNN_DATA_DIR`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Returns `$SNN_DATA_DIR/<name>`, or `None` after printing that the calling
/// test is skipped when `SNN_DATA_DIR` is unset.
///
/// # Panics
///
/// Panics when `SNN_DATA_DIR` is unset and `CI` is set, because CI must run
/// the tests on real data, and when the folder does not exist.
pub fn real_data_dir(test: &str, name: &str) -> Option<PathBuf> {
    let Some(root) = std::env::var_os("SNN_DATA_DIR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: SNN_DATA_DIR is unset, but CI is set and this test needs the real data \
             (a folder holding digits-t10k/ and mnist-t10k/)"
        );
        eprintln!("{test}: skipped, because SNN_DATA_DIR is unset");
        return None;
    };
    let dir = PathBuf::from(root).join(name);
    assert!(dir.is_dir(), "{test}: {} is not a folder", dir.display());
    Some(dir)
}

/// Returns the bytes of an IDX image file with the given header fields and
/// `pixels` as its data. The data need not match the header.
pub fn image_file(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 + pixels.len());
    bytes.extend_from_slice(&0x0000_0803u32.to_be_bytes());
    bytes.extend_from_slice(&count.to_be_bytes());
    bytes.extend_from_slice(&rows.to_be_bytes());
    bytes.extend_from_slice(&cols.to_be_bytes());
    bytes.extend_from_slice(pixels);
    bytes
}

/// Returns the bytes of a valid IDX file of `count` 28x28 images whose pixel
/// `i` is `i % 251`, a pattern that differs between images.
pub fn valid_image_file(count: u32) -> Vec<u8> {
    image_file(count, 28, 28, &pattern(count as usize * 784))
}

/// Returns `len` bytes following the pattern `i % 251`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Returns the bytes of an IDX label file with header count `count` and
/// `labels` as its data.
pub fn label_file(count: u32, labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend_from_slice(&0x0000_0801u32.to_be_bytes());
    bytes.extend_from_slice(&count.to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// Returns the bytes of a valid IDX label file with labels `0, 1, ..., 9, 0, ...`.
pub fn valid_label_file(count: u32) -> Vec<u8> {
    let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
    label_file(count, &labels)
}

/// Compresses `bytes` into a gzip stream.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes)
        .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    path
}

/// Writes a complete data folder into `dir`: `train_count` training and
/// `test_count` test images with labels, gzip-compressed as `NAME.gz`.
pub fn write_dataset(dir: &Path, train_count: u32, test_count: u32) {
    std::fs::create_dir_all(dir).expect("creating the data folder");
    write_file(
        dir,
        "train-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(train_count)),
    );
    write_file(
        dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&valid_label_file(train_count)),
    );
    write_file(
        dir,
        "t10k-images-idx3-ubyte.gz",
        &gzip(&valid_image_file(test_count)),
    );
    write_file(
        dir,
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&valid_label_file(test_count)),
    );
}
