//! Fuzzes the IDX reader with mutated valid files, raw and gzip-compressed:
//! truncated at random lengths, with changed header fields, flipped bytes or
//! appended bytes. The reader must return `Ok` or `Err` and never panic, and
//! whatever it accepts must be consistent.
//!
//! Runs 1,000 cases per property by default (3 properties); set the
//! environment variable `PROPTEST_CASES` to run another number.

mod idx_support;

use std::path::Path;

use idx_support::{gzip, label_file, valid_image_file};
use mnist_fcn::idx::{Images, read_images, read_labels};
use proptest::prelude::*;

/// Default number of cases per property.
const DEFAULT_CASES: u32 = 1000;

/// One change to the bytes of a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep only the first `len % (file length + 1)` bytes.
    Truncate(usize),
    /// Overwrite header field `field` (0 = magic, then counts and sizes),
    /// big-endian, where the file is long enough.
    HeaderField { field: usize, value: u32 },
    /// XOR the byte at `position % file length` with `mask`.
    Flip { position: usize, mask: u8 },
    /// Append bytes.
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (0usize..4, header_value())
            .prop_map(|(field, value)| Mutation::HeaderField { field, value }),
        (any::<usize>(), 1u8..=255).prop_map(|(position, mask)| Mutation::Flip { position, mask }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

/// Header values near the interesting edges: small, the real sizes, huge.
fn header_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..=30,
        Just(28),
        Just(0x0000_0801),
        Just(0x0000_0803),
        Just(60_000),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Truncate(len) => {
            let keep = len % (bytes.len() + 1);
            bytes.truncate(keep);
        }
        Mutation::HeaderField { field, value } => {
            let start = field * 4;
            if bytes.len() >= start + 4 {
                bytes[start..start + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
        Mutation::Flip { position, mask } => {
            if !bytes.is_empty() {
                let index = position % bytes.len();
                bytes[index] ^= mask;
            }
        }
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
    }
}

/// Returns `bytes` after the mutations, either on the raw IDX bytes or, with
/// `compress`, half of them before and half after gzip compression.
fn mutated(mut bytes: Vec<u8>, mutations: &[Mutation], compress: bool) -> Vec<u8> {
    if !compress {
        for mutation in mutations {
            apply(&mut bytes, mutation);
        }
        return bytes;
    }

    let (before, after) = mutations.split_at(mutations.len() / 2);
    for mutation in before {
        apply(&mut bytes, mutation);
    }
    let mut compressed = gzip(&bytes);
    for mutation in after {
        apply(&mut compressed, mutation);
    }
    compressed
}

/// Asserts what any accepted image file must satisfy.
fn check_images(images: &Images) {
    assert_eq!((images.rows, images.cols), (28, 28));
    assert_eq!(images.pixels.len(), images.count * 784);
}

/// Reads `path` with both readers; neither may panic.
fn read_both(path: &Path) {
    if let Ok(images) = read_images(path) {
        check_images(&images);
    }
    if let Ok(labels) = read_labels(path) {
        assert!(labels.iter().all(|&label| label <= 9));
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_image_files_never_panic(
        count in 0u32..4,
        mutations in proptest::collection::vec(mutation(), 1..4),
        compress in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let path = dir.path().join("images");
        std::fs::write(&path, mutated(valid_image_file(count), &mutations, compress)).expect("writing the file");

        read_both(&path);
    }

    #[test]
    fn mutated_label_files_never_panic(
        labels in proptest::collection::vec(0u8..10, 0..40),
        mutations in proptest::collection::vec(mutation(), 1..4),
        compress in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let path = dir.path().join("labels");
        let bytes = label_file(labels.len() as u32, &labels);
        std::fs::write(&path, mutated(bytes, &mutations, compress)).expect("writing the file");

        read_both(&path);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        gzip_magic in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let path = dir.path().join("random");
        let mut contents = if gzip_magic { vec![0x1f, 0x8b] } else { Vec::new() };
        contents.extend(bytes);
        std::fs::write(&path, contents).expect("writing the file");

        read_both(&path);
    }
}

/// The unmutated files read back, so the properties above start from valid
/// input.
#[test]
fn unmutated_files_read() {
    let dir = tempfile::tempdir().expect("creating a temporary folder");
    for compress in [false, true] {
        let images_path = dir.path().join("images");
        std::fs::write(&images_path, mutated(valid_image_file(3), &[], compress))
            .expect("writing the file");
        let labels_path = dir.path().join("labels");
        std::fs::write(&labels_path, mutated(label_file(2, &[4, 9]), &[], compress))
            .expect("writing the file");

        let images = read_images(&images_path).expect("a valid image file");
        assert_eq!(images.count, 3);
        let labels = read_labels(&labels_path).expect("a valid label file");
        assert_eq!(labels, vec![4, 9]);
    }
}
