//! Turning images into batches: shuffling, dropping the last partial batch,
//! and scaling pixels to `[0, 1]`.

use autodiff::Tensor;
use rand::Rng;
use rand::seq::SliceRandom;

use crate::data::Split;

/// One batch: the images as `[batch, 784]` floats in `[0, 1]` and their
/// class labels.
pub struct Batch {
    pub images: Tensor<f32>,
    pub labels: Vec<usize>,
}

/// Gathers the images at `indices` into a batch, scaling each pixel
/// `p` to `p / 255` (torchvision's `ToTensor`; `Normalize((0,), (1,))` then
/// changes nothing).
// ANCHOR: gather
pub fn gather(split: &Split, indices: &[usize]) -> Batch {
    let pixels = split.images.pixels_per_image();
    let mut data = Vec::with_capacity(indices.len() * pixels);
    for &i in indices {
        data.extend(split.images.image(i).iter().map(|&p| f32::from(p) / 255.0));
    }
    Batch {
        images: Tensor::from_vec(data, &[indices.len(), pixels]),
        labels: indices.iter().map(|&i| usize::from(split.labels[i])).collect(),
    }
}
// ANCHOR_END: gather

/// The batches of one epoch: a fresh shuffle of `0..count`, cut into
/// `batch_size` pieces, the last partial piece dropped (PyTorch's
/// `shuffle=True, drop_last=True`).
// ANCHOR: epoch_order
pub fn epoch_order(count: usize, batch_size: usize, rng: &mut impl Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(rng);
    order.chunks_exact(batch_size).map(<[usize]>::to_vec).collect()
}
// ANCHOR_END: epoch_order

/// `size` distinct indices of `0..count` drawn at random (all of them, in
/// random order, when `count <= size`).
pub fn random_batch(count: usize, size: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let (picked, _) = order.partial_shuffle(rng, size.min(count));
    picked.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn epoch_drops_last_partial_batch() {
        let batches = epoch_order(1000, 128, &mut StdRng::seed_from_u64(0));
        assert_eq!(batches.len(), 7);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 7 * 128, "indices within an epoch are distinct");
    }

    #[test]
    fn random_batch_is_distinct() {
        let mut picked = random_batch(300, 128, &mut StdRng::seed_from_u64(1));
        picked.sort_unstable();
        picked.dedup();
        assert_eq!(picked.len(), 128);
    }
}
