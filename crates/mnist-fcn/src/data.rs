//! The datasets, where the program looks for their files, and loading them.
//!
//! A data folder contains the four standard IDX files of [`FILES`], each either
//! as `NAME` or as `NAME.gz`. Which one is compressed makes no difference:
//! the reader in [`crate::idx`] detects gzip by its magic bytes.
//!
//! Without `--data-dir`, the program looks in `data/<dataset>/` under the
//! current directory and, for Fashion-MNIST, in Debian's
//! [`DEBIAN_FASHION_DIR`]. [`search_default_dirs`] is that search alone;
//! [`locate`] turns a failed search into an error, and
//! [`crate::download::find_or_download`] into a download.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::download::FileFailure;
use crate::idx::{self, Images};

/// Names of the four IDX files of a dataset, without the `.gz` suffix:
/// training images, training labels, test images, test labels.
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Folder where Debian's `dataset-fashion-mnist` package installs
/// Fashion-MNIST, as the four `.gz` files of [`FILES`].
pub const DEBIAN_FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A dataset that the program can train on. Both have 28x28 grayscale
/// images in ten classes and the same IDX file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Dataset {
    /// Handwritten digits 0 to 9.
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothing.
    Fashion,
}

impl Dataset {
    /// Returns the name used on the command line and in `data/<name>/`:
    /// "mnist" or "fashion".
    pub fn name(&self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::Fashion => "fashion",
        }
    }

    /// Returns the dataset's usual written name: "MNIST" or "Fashion-MNIST".
    pub fn title(&self) -> &'static str {
        match self {
            Dataset::Mnist => "MNIST",
            Dataset::Fashion => "Fashion-MNIST",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Images and labels of one split; `images.count == labels.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The split's images, 28x28 each.
    pub images: Images,
    /// One class number from 0 to 9 per image.
    pub labels: Vec<u8>,
}

/// Both splits of a dataset and the folder they were read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistData {
    /// Training split (`train-*` files).
    pub train: Split,
    /// Test split (`t10k-*` files).
    pub test: Split,
    /// Folder that contains the four files.
    pub dir: PathBuf,
}

/// Errors from finding, downloading and reading the dataset files.
///
/// Each message names the file or folder involved and how to fix it.
/// Messages that wrap an I/O error include its text, so printing the error's
/// `source()` chain as well repeats it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file to read does not exist.
    #[error("{path}: file not found")]
    FileNotFound { path: PathBuf },

    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    /// A file has no bytes at all.
    #[error("{path} is empty (0 bytes); replace it with an intact copy of the IDX file")]
    Empty { path: PathBuf },

    /// A gzip file could not be decompressed.
    #[error(
        "{path}: the gzip data is corrupt or truncated ({source}); replace it with an intact copy of the file"
    )]
    Gzip { path: PathBuf, source: io::Error },

    /// A file does not start with the expected IDX magic number.
    #[error(
        "{path} is not an IDX {kind} file: it starts with bytes {found}, but an IDX {kind} file starts with {}{hint}",
        hex_magic(*.expected)
    )]
    Magic {
        path: PathBuf,
        /// "image" or "label".
        kind: &'static str,
        expected: u32,
        /// The first bytes of the (decompressed) file, as hex pairs.
        found: String,
        /// A guess at what the file is instead, starting with "; ", or empty.
        hint: String,
    },

    /// A file ends inside the IDX header.
    #[error(
        "{path} ends after {found} bytes, inside the {header_len}-byte header of an IDX {kind} file; replace it with an intact copy of the file"
    )]
    ShortHeader {
        path: PathBuf,
        kind: &'static str,
        header_len: usize,
        found: usize,
    },

    /// An image file contains images of a size other than 28x28.
    #[error(
        "{path} contains {rows}x{cols} images, but the network needs 28x28 images (784 inputs)"
    )]
    ImageSize { path: PathBuf, rows: u32, cols: u32 },

    /// A file contains fewer data bytes than its header announces.
    #[error(
        "{path}: header declares {declared} = {claimed} bytes, but the file contains only {found} bytes after the header{}; replace it with an intact copy of the file",
        if *.decompressed { " (after decompression)" } else { "" }
    )]
    DataTooShort {
        path: PathBuf,
        /// The header's count, such as "8000 images of 28x28".
        declared: String,
        claimed: u64,
        found: u64,
        decompressed: bool,
    },

    /// A gzip file is too small to decompress to what its header announces.
    #[error(
        "{path}: header declares {declared} = {claimed} bytes, but a gzip file of {compressed_len} bytes decompresses to at most {max_decompressed} bytes; replace it with an intact copy of the file"
    )]
    GzipTooSmall {
        path: PathBuf,
        declared: String,
        claimed: u64,
        compressed_len: u64,
        max_decompressed: u64,
    },

    /// A file contains more data bytes than its header announces.
    #[error(
        "{path}: header declares {declared} = {claimed} bytes, but {}{extra} more bytes follow them; the header's count is wrong or the file is damaged, so replace it with an intact copy",
        if *.at_least { "at least " } else { "" }
    )]
    TrailingBytes {
        path: PathBuf,
        declared: String,
        claimed: u64,
        extra: u64,
        at_least: bool,
    },

    /// A label is not a class number from 0 to 9.
    #[error(
        "{path}: label {index} is {value}, but labels must be class numbers from 0 to 9; replace the file with an intact copy"
    )]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        value: u8,
    },

    /// The image and label files of one split disagree on the count.
    #[error(
        "{images_path} contains {image_count} images but {labels_path} contains {label_count} labels; both files must come from the same split of the same dataset"
    )]
    CountMismatch {
        images_path: PathBuf,
        image_count: usize,
        labels_path: PathBuf,
        label_count: usize,
    },

    /// A split has no images, so training or evaluation would have nothing to do.
    #[error("{path} contains 0 images; each split needs at least one")]
    NoImages { path: PathBuf },

    /// The folder given with `--data-dir` does not exist.
    #[error("--data-dir {dir}: folder not found")]
    DataDirNotFound { dir: PathBuf },

    /// The folder given with `--data-dir` lacks some of the four files.
    #[error(
        "--data-dir {dir} lacks {}; it must hold all four IDX files {}, each raw or gzip-compressed as NAME.gz",
        join_names(.missing),
        join_names(&FILES)
    )]
    DataDirIncomplete {
        dir: PathBuf,
        missing: Vec<&'static str>,
    },

    /// The folder given with `--data-dir` for `--eval-only` lacks a test
    /// file.
    #[error(
        "--data-dir {dir} lacks {}; evaluating saved weights needs the test files {}, each raw or gzip-compressed as NAME.gz",
        join_names(.missing),
        join_names(&TEST_FILES)
    )]
    TestFilesMissing {
        dir: PathBuf,
        missing: Vec<&'static str>,
    },

    /// No folder that the program searches contains all four files.
    #[error(
        "no {} data found: the program needs the IDX files {} (each raw or gzip-compressed as NAME.gz) in one folder and looked in {}. Put the files in {}, or pass --data-dir DIR with the folder that contains them{}",
        .dataset.title(),
        join_names(&FILES),
        join_paths(.searched),
        .searched.first().map_or_else(String::new, |dir| dir.display().to_string()),
        install_hint(*.dataset)
    )]
    NotFound {
        dataset: Dataset,
        /// The folders searched, in order.
        searched: Vec<PathBuf>,
    },

    /// The folder to download into could not be created.
    #[error(
        "cannot create the download folder {dir}: {source}; run from a writable directory or pass --data-dir DIR with a folder that contains the files"
    )]
    CreateDir { dir: PathBuf, source: io::Error },

    /// Some files could not be downloaded from any mirror.
    #[error(
        "downloading {} into {dest} failed:\n  {}\nPut the four IDX files there by hand (gzip-compressed or not), or pass --data-dir DIR with a folder that contains them{}",
        .dataset.title(),
        join_failures(.failures),
        install_hint(*.dataset)
    )]
    DownloadFailed {
        dataset: Dataset,
        /// The folder that the files were downloaded into.
        dest: PathBuf,
        /// Every file that failed, with the mirrors tried.
        failures: Vec<FileFailure>,
    },
}

impl DataError {
    /// Wraps an error from opening `path`, turning "not found" into
    /// [`DataError::FileNotFound`].
    pub(crate) fn open(path: &Path, error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::NotFound {
            DataError::FileNotFound {
                path: path.to_path_buf(),
            }
        } else {
            DataError::io(path, error)
        }
    }

    /// Wraps an I/O error on `path`.
    pub(crate) fn io(path: &Path, error: io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source: error,
        }
    }
}

/// Formats an IDX magic number as its four big-endian bytes, "00 00 08 03".
fn hex_magic(magic: u32) -> String {
    let pairs: Vec<String> = magic
        .to_be_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    pairs.join(" ")
}

/// Joins file names as "a, b and c".
fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Joins folder paths as "a, b and c".
fn join_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    match shown.as_slice() {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Formats download failures one file per paragraph.
fn join_failures(failures: &[FileFailure]) -> String {
    let shown: Vec<String> = failures.iter().map(|failure| failure.to_string()).collect();
    shown.join("\n  ")
}

/// Returns the install hint that ends a "not found" message, or "".
pub(crate) fn install_hint(dataset: Dataset) -> &'static str {
    match dataset {
        Dataset::Mnist => "",
        Dataset::Fashion => {
            ", or install Fashion-MNIST with `apt-get install dataset-fashion-mnist`"
        }
    }
}

/// Returns the path of file `name` in `dir`, or `None` when neither
/// `dir/NAME` nor `dir/NAME.gz` exists. When both exist, `NAME` wins, since
/// it reads without decompressing.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gzip = dir.join(format!("{name}.gz"));
    gzip.is_file().then_some(gzip)
}

/// Returns the names from [`FILES`] that `dir` contains neither as `NAME` nor
/// as `NAME.gz`, in the order of [`FILES`].
pub fn missing_files(dir: &Path) -> Vec<&'static str> {
    FILES
        .into_iter()
        .filter(|name| find_file(dir, name).is_none())
        .collect()
}

/// Returns the folder that [`crate::download::download`] fills for `dataset`:
/// `data/<dataset>/` under `cwd`.
pub fn download_dir(dataset: Dataset, cwd: &Path) -> PathBuf {
    cwd.join("data").join(dataset.name())
}

/// Returns the folders searched when no `--data-dir` is given, in order:
/// `data/<dataset>/` under `cwd`, then for Fashion-MNIST
/// [`DEBIAN_FASHION_DIR`].
pub fn default_dirs(dataset: Dataset, cwd: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![download_dir(dataset, cwd)];
    if dataset == Dataset::Fashion {
        dirs.push(PathBuf::from(DEBIAN_FASHION_DIR));
    }
    dirs
}

/// Returns the first of [`default_dirs`] that contains all four files, or
/// `None`. Only checks that the files exist; reading them is [`load_dir`]'s
/// job.
pub fn search_default_dirs(dataset: Dataset, cwd: &Path) -> Option<PathBuf> {
    default_dirs(dataset, cwd)
        .into_iter()
        .find(|dir| missing_files(dir).is_empty())
}

/// Finds the folder that contains the four files of `dataset`.
///
/// With `data_dir` (the `--data-dir` option, relative paths taken from
/// `cwd`), only that folder counts. Without it, the folders of
/// [`default_dirs`] are searched in order.
///
/// # Errors
///
/// [`DataError::DataDirNotFound`] or [`DataError::DataDirIncomplete`] (naming
/// the missing files) for a `data_dir` that does not hold the files;
/// [`DataError::NotFound`] (naming the files, the folders searched and
/// `--data-dir`) when no default folder contains them.
pub fn locate(dataset: Dataset, data_dir: Option<&Path>, cwd: &Path) -> Result<PathBuf, DataError> {
    match data_dir {
        Some(dir) => check_data_dir(&cwd.join(dir)),
        None => search_default_dirs(dataset, cwd).ok_or_else(|| DataError::NotFound {
            dataset,
            searched: default_dirs(dataset, cwd),
        }),
    }
}

/// Returns `dir` when it contains all four files.
///
/// # Errors
///
/// [`DataError::DataDirNotFound`] when `dir` is not a folder,
/// [`DataError::DataDirIncomplete`] when files are missing.
pub fn check_data_dir(dir: &Path) -> Result<PathBuf, DataError> {
    if !dir.is_dir() {
        return Err(DataError::DataDirNotFound {
            dir: dir.to_path_buf(),
        });
    }
    let missing = missing_files(dir);
    if !missing.is_empty() {
        return Err(DataError::DataDirIncomplete {
            dir: dir.to_path_buf(),
            missing,
        });
    }
    Ok(dir.to_path_buf())
}

/// Reads both splits from the four files in `dir`.
///
/// # Errors
///
/// [`DataError::DataDirNotFound`] or [`DataError::DataDirIncomplete`] when
/// files are missing, otherwise the first error of [`load_split`] (training
/// split first).
pub fn load_dir(dir: &Path) -> Result<MnistData, DataError> {
    check_data_dir(dir)?;
    let path_of = |name: &str| {
        find_file(dir, name).ok_or_else(|| DataError::DataDirIncomplete {
            dir: dir.to_path_buf(),
            missing: missing_files(dir),
        })
    };

    let train = load_split(&path_of(FILES[0])?, &path_of(FILES[1])?)?;
    let test = load_split(&path_of(FILES[2])?, &path_of(FILES[3])?)?;
    Ok(MnistData {
        train,
        test,
        dir: dir.to_path_buf(),
    })
}

/// The two files of the test split.
pub const TEST_FILES: [&str; 2] = [FILES[2], FILES[3]];

/// Reads only the test split from `dir`, for evaluating saved weights.
/// The training split is left empty.
///
/// # Errors
///
/// [`DataError::DataDirNotFound`] when `dir` is not a folder,
/// [`DataError::TestFilesMissing`] when a test file is missing, otherwise
/// the errors of [`load_split`].
pub fn load_test_dir(dir: &Path) -> Result<MnistData, DataError> {
    if !dir.is_dir() {
        return Err(DataError::DataDirNotFound { dir: dir.to_path_buf() });
    }
    let found = TEST_FILES.map(|name| find_file(dir, name));
    let [Some(images_path), Some(labels_path)] = found else {
        let missing = TEST_FILES.iter().zip(&found).filter(|(_, path)| path.is_none()).map(|(&name, _)| name).collect();
        return Err(DataError::TestFilesMissing { dir: dir.to_path_buf(), missing });
    };
    let test = load_split(&images_path, &labels_path)?;
    let images = Images { count: 0, rows: test.images.rows, cols: test.images.cols, pixels: Vec::new() };
    Ok(MnistData {
        train: Split { images, labels: Vec::new() },
        test,
        dir: dir.to_path_buf(),
    })
}

/// Reads one split from its image file and label file.
///
/// # Errors
///
/// Any error of [`idx::read_images`] or [`idx::read_labels`];
/// [`DataError::NoImages`] for an image file with 0 images;
/// [`DataError::CountMismatch`] (naming both files and counts) when the two
/// counts differ.
pub fn load_split(images_path: &Path, labels_path: &Path) -> Result<Split, DataError> {
    let images = idx::read_images(images_path)?;
    let labels = idx::read_labels(labels_path)?;

    if images.count == 0 {
        return Err(DataError::NoImages {
            path: images_path.to_path_buf(),
        });
    }
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            image_count: images.count,
            labels_path: labels_path.to_path_buf(),
            label_count: labels.len(),
        });
    }
    Ok(Split { images, labels })
}
