//! The IDX format, read back with the program's reader, then scaled and
//! batched as the training loop does. Run with
//! `cargo run -p mnist-fcn --example book_idx`.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_fcn::batch::{epoch_order, gather};
use mnist_fcn::data::Split;
use mnist_fcn::idx::{IMAGE_MAGIC, LABEL_MAGIC, read_images, read_labels};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Formats bytes as hex pairs: "00 00 08 03".
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Breaks `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("lines starts non-empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

// ANCHOR: write
/// Writes an image file of 3 images and a label file by hand, and returns
/// their bytes.
fn write_idx_files() -> (Vec<u8>, Vec<u8>) {
    // An image file: the magic number, the count, rows and columns, each a
    // big-endian u32, then one byte per pixel, image after image, row-major.
    let count: u32 = 3;
    let mut image_file = Vec::new();
    for field in [IMAGE_MAGIC, count, 28, 28] {
        image_file.extend(field.to_be_bytes());
    }
    for image in 0..count {
        for pixel in 0..28 * 28 {
            // A blank image, a mid-grey one, and one that brightens row by row.
            let value = match image {
                0 => 0,
                1 => 128,
                _ => (pixel / 28 * 255 / 27) as u8,
            };
            image_file.push(value);
        }
    }

    // A label file: magic and count, then one byte per label.
    let mut label_file = Vec::new();
    for field in [LABEL_MAGIC, count] {
        label_file.extend(field.to_be_bytes());
    }
    label_file.extend([0u8, 7, 3]);
    println!("image header: {}", hex(&image_file[..16]));
    println!("label header: {}", hex(&label_file[..8]));
    (image_file, label_file)
}
// ANCHOR_END: write

// ANCHOR: read
/// Reads the two files back, then reads the label file as images. The
/// reader takes raw or gzip files alike: it looks at the first two bytes
/// (1f 8b for gzip), not at the name.
fn read_back(images_path: &Path, labels_path: &Path) -> Split {
    let images = read_images(images_path).expect("a valid image file");
    let labels = read_labels(labels_path).expect("a valid label file");
    println!(
        "read {} images of {}x{}, labels {:?}",
        images.count, images.rows, images.cols, labels
    );

    // A label file where an image file belongs is an error that names the
    // mix-up.
    let swapped = read_images(labels_path).unwrap_err();
    let message = swapped.to_string();
    let folder = labels_path.parent().and_then(Path::to_str);
    let folder = folder.expect("a UTF-8 temporary path");
    let wrapped = wrap(&message.replace(folder, "DIR"), 64);
    println!("swapped files: {}", wrapped.join("\n               "));
    Split { images, labels }
}
// ANCHOR_END: read

// ANCHOR: scale
/// Gathers images 2 and 1 into a batch: the pixels as f32 in [0, 1], p / 255.
fn scale_batch(split: &Split) {
    let batch = gather(split, &[2, 1]);
    let first_row = &batch.images.data()[..28];
    let last_row = &batch.images.data()[27 * 28..28 * 28];
    println!(
        "batch images {:?}, labels {:?}",
        batch.images.shape(),
        batch.labels
    );
    println!(
        "image 2, row 0: {:.4}; row 27: {:.4}",
        first_row[0], last_row[0]
    );
    println!(
        "image 1, any pixel: 128 / 255 = {:.4}",
        batch.images.data()[784]
    );
}
// ANCHOR_END: scale

// ANCHOR: epoch
/// Cuts one epoch over 10 images into batches of 4 and returns the number
/// of batches: a fresh shuffle, cut into whole batches. The 2 left over are
/// dropped (drop_last).
fn one_epoch() -> usize {
    let batches = epoch_order(10, 4, &mut StdRng::seed_from_u64(0));
    println!("{} batches: {:?}", batches.len(), batches);
    batches.len()
}
// ANCHOR_END: epoch

fn main() {
    let (image_file, label_file) = write_idx_files();

    let dir = tempfile::tempdir().expect("a temporary folder");
    let images_path = dir.path().join("t10k-images-idx3-ubyte");
    let labels_path = dir.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&images_path, &image_file).unwrap();
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&label_file).unwrap();
    std::fs::write(&labels_path, gzip.finish().unwrap()).unwrap();

    let split = read_back(&images_path, &labels_path);
    scale_batch(&split);
    assert_eq!(one_epoch(), 2);
}
