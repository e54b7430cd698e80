//! Reader for the IDX files that hold MNIST and Fashion-MNIST.
//!
//! An IDX file is a big-endian header followed by raw bytes. Image files
//! (magic 0x00000803) have the header `magic, count, rows, cols` and then
//! `count * rows * cols` pixels, one byte each, row-major. Label files
//! (magic 0x00000801) have the header `magic, count` and then `count` labels,
//! one byte each. Every header field is a big-endian `u32`.
//!
//! A file may be gzip-compressed or raw. The reader tells them apart by the
//! gzip magic bytes `1f 8b`, never by the file name, so a raw file saved under
//! a `.gz` name reads as well as a compressed one.
//!
//! The reader is our own rather than the `mnist` crate's (0.6) because that
//! crate reads only uncompressed files with exactly 60,000 and 10,000 images
//! and panics on malformed input, and the files here come from the user.
//! This reader returns a [`DataError`] for every malformed file and sizes each
//! allocation by the bytes actually read, never by a count that a header
//! merely claims.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::data::DataError;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGE_MAGIC: u32 = 0x0000_0803;

/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABEL_MAGIC: u32 = 0x0000_0801;

/// Height and width in pixels that every image must have: the network has
/// 28 * 28 = 784 inputs.
pub const IMAGE_SIDE: usize = 28;

/// Number of classes; every label must be below this.
pub const CLASS_COUNT: u8 = 10;

const IMAGE_HEADER_LEN: usize = 16;
const LABEL_HEADER_LEN: usize = 8;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Upper bound on how much deflate can expand its input. One length/distance
/// pair of at least 2 bits yields at most 258 bytes, so the format's limit is
/// 1032:1 (zlib's "Technical Details" page, zlib.net/zlib_tech.html), and a
/// gzip file of `n` bytes never decompresses to more than `1032 * n` bytes.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Maximum number of extra bytes that the reader decompresses to report how
/// many bytes follow the data that the header announced.
const TRAILING_SCAN_LIMIT: u64 = 16 * 1024 * 1024;

/// Images of one IDX file, with their pixels kept as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Height of each image in pixels (always [`IMAGE_SIDE`] after
    /// [`read_images`]).
    pub rows: usize,
    /// Width of each image in pixels (always [`IMAGE_SIDE`] after
    /// [`read_images`]).
    pub cols: usize,
    /// All pixels, image after image, each image row-major:
    /// `count * rows * cols` bytes from 0 (background) to 255.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Returns the number of pixels in one image, `rows * cols`.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// Returns the pixels of image `index`, row-major.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.count`.
    pub fn image(&self, index: usize) -> &[u8] {
        assert!(
            index < self.count,
            "image index {index} is out of range for {} images",
            self.count
        );
        let size = self.pixels_per_image();
        &self.pixels[index * size..(index + 1) * size]
    }
}

/// Reads an IDX image file, raw or gzip-compressed.
///
/// The images must be 28x28. The header's image count must match the data:
/// a file with fewer or more pixel bytes than the header announces is an
/// error, found before the pixels are allocated where the file size already
/// shows it.
///
/// # Errors
///
/// Returns a [`DataError`] naming `path` when the file is missing or
/// unreadable, empty, not an IDX image file, corrupt gzip, of other image
/// dimensions, or shorter or longer than its header declares.
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    let mut source = IdxSource::open(path)?;
    let header: [u8; IMAGE_HEADER_LEN] = source.read_header(IdxKind::Images)?;

    let count = be_u32(&header, 4);
    let rows = be_u32(&header, 8);
    let cols = be_u32(&header, 12);
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            rows,
            cols,
        });
    }

    let declared = format!("{count} images of {rows}x{cols}");
    let claimed = u64::from(count) * u64::from(rows) * u64::from(cols);
    let pixels = source.read_body(&declared, claimed, IMAGE_HEADER_LEN)?;

    Ok(Images {
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels,
    })
}

/// Reads an IDX label file, raw or gzip-compressed.
///
/// Every label must be a class number from 0 to 9, and the header's label
/// count must match the data exactly.
///
/// # Errors
///
/// Returns a [`DataError`] naming `path` when the file is missing or
/// unreadable, empty, not an IDX label file, corrupt gzip, shorter or longer
/// than its header declares, or contains a label above 9 (the error then names the
/// label's index and value).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut source = IdxSource::open(path)?;
    let header: [u8; LABEL_HEADER_LEN] = source.read_header(IdxKind::Labels)?;

    let count = be_u32(&header, 4);
    let declared = format!("{count} labels");
    let labels = source.read_body(&declared, u64::from(count), LABEL_HEADER_LEN)?;

    if let Some(index) = labels.iter().position(|&label| label >= CLASS_COUNT) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            value: labels[index],
        });
    }
    Ok(labels)
}

/// Type of an IDX file: images or labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// Unsigned-byte images, magic [`IMAGE_MAGIC`].
    Images,
    /// Unsigned-byte labels, magic [`LABEL_MAGIC`].
    Labels,
}

impl IdxKind {
    /// Returns the magic number that starts a file of this kind.
    pub fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGE_MAGIC,
            IdxKind::Labels => LABEL_MAGIC,
        }
    }

    /// Returns "image" or "label", for messages.
    pub fn noun(self) -> &'static str {
        match self {
            IdxKind::Images => "image",
            IdxKind::Labels => "label",
        }
    }
}

/// Decoded byte stream of one IDX file, with the facts about the file that
/// the size checks need.
struct IdxSource {
    path: PathBuf,
    reader: Box<dyn Read>,
    compressed: bool,
    file_len: u64,
}

impl IdxSource {
    /// Opens `path` and detects gzip by the first two bytes.
    fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|error| DataError::open(path, error))?;
        let file_len = file
            .metadata()
            .map_err(|error| DataError::io(path, error))?
            .len();

        let mut file = BufReader::new(file);
        let mut prefix = [0u8; 2];
        let prefix_len =
            read_up_to(&mut file, &mut prefix).map_err(|error| DataError::io(path, error))?;
        if prefix_len == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }

        // The two bytes already read go back in front of the rest of the file.
        let compressed = prefix[..prefix_len] == GZIP_MAGIC;
        let stream = Cursor::new(prefix[..prefix_len].to_vec()).chain(file);
        let reader: Box<dyn Read> = if compressed {
            Box::new(MultiGzDecoder::new(stream))
        } else {
            Box::new(stream)
        };

        Ok(IdxSource {
            path: path.to_path_buf(),
            reader,
            compressed,
            file_len,
        })
    }

    /// Maps a read error to a [`DataError`]: inside a gzip stream, errors
    /// come from corrupt or truncated compressed data.
    fn read_error(&self, error: io::Error) -> DataError {
        if self.compressed {
            DataError::Gzip {
                path: self.path.clone(),
                source: error,
            }
        } else {
            DataError::io(&self.path, error)
        }
    }

    /// Reads the `N`-byte header and checks its magic number against `kind`.
    fn read_header<const N: usize>(&mut self, kind: IdxKind) -> Result<[u8; N], DataError> {
        let mut header = [0u8; N];
        let found =
            read_up_to(&mut self.reader, &mut header).map_err(|error| self.read_error(error))?;

        let start = &header[..found.min(4)];
        let wrong_magic = if found >= 4 {
            be_u32(&header, 0) != kind.magic()
        } else {
            starts_like_html(start)
        };
        if wrong_magic {
            return Err(DataError::Magic {
                path: self.path.clone(),
                kind: kind.noun(),
                expected: kind.magic(),
                found: hex_bytes(start),
                hint: magic_hint(&header[..found], kind),
            });
        }
        if found < N {
            return Err(DataError::ShortHeader {
                path: self.path.clone(),
                kind: kind.noun(),
                header_len: N,
                found,
            });
        }
        Ok(header)
    }

    /// Reads exactly `claimed` bytes of data and checks that nothing follows.
    ///
    /// `declared` describes the header's count for messages, such as
    /// "8000 images of 28x28". Impossible sizes are rejected from the file
    /// size before any allocation: a raw file must hold exactly
    /// `header_len + claimed` bytes, and a gzip file cannot decompress to more
    /// than [`MAX_DEFLATE_RATIO`] times its size.
    fn read_body(
        &mut self,
        declared: &str,
        claimed: u64,
        header_len: usize,
    ) -> Result<Vec<u8>, DataError> {
        self.check_size_before_reading(declared, claimed, header_len)?;

        let too_short = |found: u64| DataError::DataTooShort {
            path: self.path.clone(),
            declared: declared.to_string(),
            claimed,
            found,
            decompressed: self.compressed,
        };
        let Ok(claimed_len) = usize::try_from(claimed) else {
            return Err(too_short(self.file_len));
        };

        // A raw file's size is known to match by now, so reserving is safe.
        // Gzip output grows with the bytes that actually arrive.
        let mut data = Vec::new();
        if !self.compressed {
            data.reserve_exact(claimed_len);
        }
        (&mut self.reader)
            .take(claimed)
            .read_to_end(&mut data)
            .map_err(|error| self.read_error(error))?;
        if data.len() < claimed_len {
            return Err(too_short(data.len() as u64));
        }

        let extra = io::copy(
            &mut (&mut self.reader).take(TRAILING_SCAN_LIMIT + 1),
            &mut io::sink(),
        )
        .map_err(|error| self.read_error(error))?;
        if extra > 0 {
            return Err(DataError::TrailingBytes {
                path: self.path.clone(),
                declared: declared.to_string(),
                claimed,
                extra: extra.min(TRAILING_SCAN_LIMIT),
                at_least: extra > TRAILING_SCAN_LIMIT,
            });
        }
        Ok(data)
    }

    /// Rejects a `claimed` data size that the file's size rules out.
    fn check_size_before_reading(
        &self,
        declared: &str,
        claimed: u64,
        header_len: usize,
    ) -> Result<(), DataError> {
        if self.compressed {
            let max_decompressed = self.file_len.saturating_mul(MAX_DEFLATE_RATIO);
            if claimed > max_decompressed {
                return Err(DataError::GzipTooSmall {
                    path: self.path.clone(),
                    declared: declared.to_string(),
                    claimed,
                    compressed_len: self.file_len,
                    max_decompressed,
                });
            }
            return Ok(());
        }

        let available = self.file_len.saturating_sub(header_len as u64);
        if claimed > available {
            return Err(DataError::DataTooShort {
                path: self.path.clone(),
                declared: declared.to_string(),
                claimed,
                found: available,
                decompressed: false,
            });
        }
        if claimed < available {
            return Err(DataError::TrailingBytes {
                path: self.path.clone(),
                declared: declared.to_string(),
                claimed,
                extra: available - claimed,
                at_least: false,
            });
        }
        Ok(())
    }
}

/// Reads into `buf` until it is full or the reader ends, and returns how
/// many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Returns the big-endian `u32` at `offset`.
fn be_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}

/// Formats bytes as lowercase hex pairs separated by spaces, such as "00 00 08 03".
fn hex_bytes(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    pairs.join(" ")
}

/// Returns whether the first non-blank byte is `<`, as in an HTML page.
fn starts_like_html(bytes: &[u8]) -> bool {
    bytes.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'<')
}

/// Returns a guess at what a file with the wrong magic number is, starting
/// with "; " so that it can follow the main message, or an empty string.
fn magic_hint(header: &[u8], expected: IdxKind) -> String {
    let hint = if starts_like_html(header) {
        "it looks like an HTML page, perhaps an error page saved by a failed download"
    } else if header.starts_with(&GZIP_MAGIC) {
        "the data is gzip-compressed a second time; decompress it once"
    } else if header.len() >= 4 && expected == IdxKind::Images && be_u32(header, 0) == LABEL_MAGIC {
        "it is an IDX label file; check that the image and label files are not swapped"
    } else if header.len() >= 4 && expected == IdxKind::Labels && be_u32(header, 0) == IMAGE_MAGIC {
        "it is an IDX image file; check that the image and label files are not swapped"
    } else {
        return String::new();
    };
    format!("; {hint}")
}
