//! Device layout of each dtype: how canonical host bytes sit in a storage buffer.
//!
//! - float32, int32, uint32: 4 bytes per element, as on the host.
//! - float16, bfloat16, int16, uint16: 2 bytes per element, packed two per `u32` word
//!   (element `2k` in the low half of word `k`), the buffer padded to a whole word.
//! - int8, uint8: 1 byte per element, packed four per `u32` word (element `4k` in the
//!   lowest byte of word `k`), the buffer padded to a whole word. No device kernel
//!   computes them: their initial values are uploaded from the host reference.
//! - bool: one `u32` per element (0 or 1).
//! - float64, int64, uint64: 8 bytes per element (only where the device supports them).
//!
//! Buffers are whole words long; chunk boundaries fall on [`CHUNK_GRANULE`] elements, so
//! a chunk never splits a packed word.

use varscope_core::DType;

/// Chunks hold a multiple of this many elements.
pub const CHUNK_GRANULE: u64 = 64;

/// Bytes one element occupies in a device buffer (`None`: no device form).
pub fn device_elem_bytes(dtype: DType) -> Option<u64> {
    Some(match dtype {
        DType::Int8 | DType::UInt8 => 1,
        DType::Float16 | DType::BFloat16 | DType::Int16 | DType::UInt16 => 2,
        DType::Float32 | DType::Int32 | DType::UInt32 | DType::Bool => 4,
        DType::Float64 | DType::Int64 | DType::UInt64 => 8,
        _ => return None,
    })
}

/// Rounds up to a whole number of 4-byte words.
pub fn word_align(bytes: u64) -> u64 {
    bytes.div_ceil(4) * 4
}

/// Device bytes of `n` elements, word aligned.
pub fn device_bytes(dtype: DType, n: u64) -> Option<u64> {
    n.checked_mul(device_elem_bytes(dtype)?).map(word_align)
}

/// Converts canonical host bytes into device bytes (word aligned).
pub fn host_to_device(dtype: DType, host: &[u8]) -> Vec<u8> {
    let mut out = match dtype {
        DType::Bool => host.iter().flat_map(|&b| u32::from(b != 0).to_le_bytes()).collect(),
        _ => host.to_vec(),
    };
    out.resize(word_align(out.len() as u64) as usize, 0);
    out
}

/// Converts `n` elements of device bytes back into canonical host bytes.
pub fn device_to_host(dtype: DType, n: u64, dev: &[u8]) -> Vec<u8> {
    match dtype {
        DType::Bool => dev.chunks_exact(4).take(n as usize).map(|w| (w != [0, 0, 0, 0]) as u8).collect(),
        _ => {
            let eb = device_elem_bytes(dtype).unwrap_or(1) as usize;
            dev[..(n as usize * eb).min(dev.len())].to_vec()
        }
    }
}

/// How a variable of `n` elements splits into chunks of at most `max_chunk_bytes`:
/// the element ranges `(start, count)`.
pub fn plan_chunks(dtype: DType, n: u64, max_chunk_bytes: u64) -> Vec<(u64, u64)> {
    let eb = device_elem_bytes(dtype).unwrap_or(4);
    let per = ((max_chunk_bytes / eb) / CHUNK_GRANULE * CHUNK_GRANULE).max(CHUNK_GRANULE);
    if n == 0 {
        return vec![(0, 0)];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let count = per.min(n - start);
        out.push((start, count));
        start += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_round_trip() {
        let h = vec![1u8, 0, 1];
        let d = host_to_device(DType::Bool, &h);
        assert_eq!(d.len(), 12);
        assert_eq!(device_to_host(DType::Bool, 3, &d), h);
    }

    #[test]
    fn half_padding() {
        let h = vec![1u8, 2, 3, 4, 5, 6];
        let d = host_to_device(DType::Float16, &h);
        assert_eq!(d.len(), 8);
        assert_eq!(device_to_host(DType::Float16, 3, &d), h);
    }

    #[test]
    fn chunks_cover_and_align() {
        let c = plan_chunks(DType::Float16, 1000, 256);
        assert_eq!(c[0], (0, 128));
        assert_eq!(c.iter().map(|c| c.1).sum::<u64>(), 1000);
        assert_eq!(plan_chunks(DType::Float32, 10, 1 << 20), vec![(0, 10)]);
    }
}
