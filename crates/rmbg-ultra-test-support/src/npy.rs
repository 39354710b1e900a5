//! `.npy` files (format 1.0/2.0, C order), the exchange format with the Python reference.

use std::path::Path;

pub trait NpyElement: Copy {
    const DESCR: &'static str;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(b: &[u8]) -> Self;
}

macro_rules! npy_element {
    ($t:ty, $d:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().unwrap())
            }
        }
    };
}
npy_element!(u8, "|u1");
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(i32, "<i4");

pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy shape/data mismatch");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", T::DESCR, shape_txt);
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.write_le(&mut out);
    }
    std::fs::write(path, out).unwrap();
}

/// Reads a C-order `.npy` of element type `T`; returns (shape, data).
pub fn read_npy<T: NpyElement>(path: &Path) -> (Vec<usize>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains(&format!("'descr': '{}'", T::DESCR)), "{}: want {} in {header}", path.display(), T::DESCR);
    assert!(header.contains("'fortran_order': False"));
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = shape_txt.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let size = std::mem::size_of::<T>();
    let data: Vec<T> = bytes[start + hlen..].chunks_exact(size).map(T::read_le).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_with_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy(&p, &[2, 3], &[1.5f32, -2.0, 0.0, 7.25, 1e-7, f32::MAX]);
        assert_eq!(read_npy::<f32>(&p), (vec![2, 3], vec![1.5f32, -2.0, 0.0, 7.25, 1e-7, f32::MAX]));
        write_npy(&p, &[4], &[0u8, 1, 254, 255]);
        assert_eq!(read_npy::<u8>(&p), (vec![4], vec![0u8, 1, 254, 255]));
        // numpy wants the header padded so that the data starts on a 64-byte boundary.
        assert_eq!((std::fs::read(&p).unwrap().len() - 4) % 64, 0);
    }

    #[test]
    #[should_panic(expected = "want <f8")]
    fn a_wrong_element_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy(&p, &[1], &[1i32]);
        read_npy::<f64>(&p);
    }
}
