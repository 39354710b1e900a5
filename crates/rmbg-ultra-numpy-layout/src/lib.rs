//! What an array's `__array_interface__` promises, checked without Python, and the raw slices
//! over its memory: the unsafe part of the ComfyUI extension's numpy access (crates/rmbg-ultra-comfyui,
//! src/array.rs reads the interface under the GIL). A crate of its own, free of pyo3, so that its
//! tests run under plain `cargo test`: the extension has no Rust test binary (it links against the
//! interpreter that imports it).

/// The element types the extension reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    U8,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::U8 => "uint8",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::U8 => 1,
        }
    }

    fn accepts(self, typestr: &str) -> bool {
        // A one-byte type has no byte order; numpy writes `|u1`, other exporters may write `<u1`.
        match self {
            Dtype::F32 => typestr == "<f4",
            Dtype::U8 => matches!(typestr, "|u1" | "<u1" | ">u1"),
        }
    }
}

/// The fields of an `__array_interface__` dict, as read from Python.
#[derive(Debug, Clone)]
pub struct Interface {
    pub typestr: String,
    pub shape: Vec<usize>,
    /// `None`: C-contiguous (the protocol's default).
    pub strides: Option<Vec<isize>>,
    pub ptr: usize,
    pub readonly: bool,
    pub masked: bool,
}

/// Why an array was refused; `Dtype` apart so that callers can raise a `TypeError` for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Dtype(String),
    Layout(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Dtype(m) | Refusal::Layout(m) => m,
        }
    }
}

/// A checked array: C-contiguous elements of `dtype` at `ptr`. Holds no reference to the Python
/// object: whoever made it keeps that object alive while slices are in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub ptr: usize,
    pub shape: Vec<usize>,
    pub dtype: Dtype,
}

/// The strides of a C-contiguous array of `shape` with elements of `itemsize` bytes.
pub fn c_strides(shape: &[usize], itemsize: usize) -> Vec<isize> {
    let mut want = Vec::with_capacity(shape.len());
    let mut step = itemsize as isize;
    for &d in shape.iter().rev() {
        want.push(step);
        step *= d as isize;
    }
    want.reverse();
    want
}

impl Layout {
    /// Accepts `iface` as C-contiguous `dtype` data (writable when asked); `what` names the
    /// argument in the messages.
    pub fn check(iface: &Interface, what: &str, dtype: Dtype, writable: bool) -> Result<Layout, Refusal> {
        if !dtype.accepts(&iface.typestr) {
            return Err(Refusal::Dtype(format!("{what}: expected {} data, got typestr {}", dtype.name(), iface.typestr)));
        }
        if let Some(strides) = &iface.strides {
            let trivially = iface.shape.iter().product::<usize>() <= 1;
            if *strides != c_strides(&iface.shape, dtype.size()) && !trivially {
                return Err(Refusal::Layout(format!("{what}: the array must be C-contiguous (strides {strides:?})")));
            }
        }
        if writable && iface.readonly {
            return Err(Refusal::Layout(format!("{what}: the array is read-only")));
        }
        if iface.masked {
            return Err(Refusal::Layout(format!("{what}: masked arrays are not supported")));
        }
        let len: usize = iface.shape.iter().product();
        if iface.ptr == 0 && len > 0 {
            return Err(Refusal::Layout(format!("{what}: null data pointer")));
        }
        Ok(Layout { ptr: iface.ptr, shape: iface.shape.clone(), dtype })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the array covers, as `(start, length)`.
    pub fn byte_range(&self) -> (usize, usize) {
        (self.ptr, self.len() * self.dtype.size())
    }

    /// # Safety
    /// The memory must hold `len()` valid f32 (the layout was checked as F32) and stay alive and
    /// unresized for the lifetime of the slice.
    pub unsafe fn f32s<'a>(&self) -> &'a [f32] {
        assert_eq!(self.dtype, Dtype::F32);
        if self.is_empty() {
            return &[];
        }
        std::slice::from_raw_parts(self.ptr as *const f32, self.len())
    }

    /// # Safety
    /// As [`Layout::f32s`], and nothing else may access the memory meanwhile.
    pub unsafe fn f32s_mut<'a>(&self) -> &'a mut [f32] {
        assert_eq!(self.dtype, Dtype::F32);
        if self.is_empty() {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.ptr as *mut f32, self.len())
    }

    /// # Safety
    /// As [`Layout::f32s`], for u8.
    pub unsafe fn u8s<'a>(&self) -> &'a [u8] {
        assert_eq!(self.dtype, Dtype::U8);
        if self.is_empty() {
            return &[];
        }
        std::slice::from_raw_parts(self.ptr as *const u8, self.len())
    }

    /// # Safety
    /// As [`Layout::f32s_mut`], for u8.
    pub unsafe fn u8s_mut<'a>(&self) -> &'a mut [u8] {
        assert_eq!(self.dtype, Dtype::U8);
        if self.is_empty() {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len())
    }
}

/// Whether any two of the non-empty arrays share a byte: a mutable slice over one of them must
/// never alias another slice.
pub fn any_overlap(arrays: &[&Layout]) -> bool {
    let ranges: Vec<(usize, usize)> = arrays.iter().map(|a| a.byte_range()).collect();
    for i in 0..ranges.len() {
        for j in i + 1..ranges.len() {
            let (a, la) = ranges[i];
            let (b, lb) = ranges[j];
            if la > 0 && lb > 0 && a < b + lb && b < a + la {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface<T>(data: &[T], typestr: &str, shape: &[usize]) -> Interface {
        Interface {
            typestr: typestr.into(),
            shape: shape.to_vec(),
            strides: None,
            ptr: data.as_ptr() as usize,
            readonly: false,
            masked: false,
        }
    }

    #[test]
    fn c_strides_are_numpys() {
        // np.empty((2, 3, 4), np.float32).strides == (48, 16, 4)
        assert_eq!(c_strides(&[2, 3, 4], 4), vec![48, 16, 4]);
        assert_eq!(c_strides(&[5, 7, 3], 1), vec![21, 3, 1]);
        assert_eq!(c_strides(&[], 1), Vec::<isize>::new());
    }

    #[test]
    fn slices_see_the_arrays_memory() {
        let data: Vec<u8> = (0..24).collect();
        let l = Layout::check(&iface(&data, "|u1", &[2, 4, 3]), "image", Dtype::U8, false).unwrap();
        assert_eq!(unsafe { l.u8s() }, &data[..]);
        let f: Vec<f32> = vec![0.5, 1.5, -2.0];
        let l = Layout::check(&iface(&f, "<f4", &[3]), "x", Dtype::F32, false).unwrap();
        assert_eq!(unsafe { l.f32s() }, &[0.5, 1.5, -2.0]);
    }

    #[test]
    fn mutable_slices_write_in_place() {
        let mut out = vec![0u8; 6];
        // Written through a pointer from a mutable borrow, as numpy's own buffer would be.
        let i = Interface { ptr: out.as_mut_ptr() as usize, ..iface(&out, "|u1", &[2, 3]) };
        let l = Layout::check(&i, "mask_out", Dtype::U8, true).unwrap();
        unsafe { l.u8s_mut() }.copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        let mut f = vec![0f32; 2];
        let i = Interface { ptr: f.as_mut_ptr() as usize, ..iface(&f, "<f4", &[2]) };
        let l = Layout::check(&i, "out", Dtype::F32, true).unwrap();
        let slice = unsafe { l.f32s_mut() };
        slice[1] = 0.25;
        assert_eq!(f, [0.0, 0.25]);
    }

    #[test]
    fn empty_arrays_give_empty_slices_even_with_a_null_pointer() {
        let i = Interface { typestr: "|u1".into(), shape: vec![0, 5, 3], strides: None, ptr: 0, readonly: true, masked: false };
        let l = Layout::check(&i, "image", Dtype::U8, false).unwrap();
        assert!(unsafe { l.u8s() }.is_empty());
        let null = Interface { shape: vec![1, 1, 3], ..i };
        assert_eq!(Layout::check(&null, "image", Dtype::U8, false).unwrap_err(), Refusal::Layout("image: null data pointer".into()));
    }

    #[test]
    fn wrong_types_are_dtype_refusals_naming_both() {
        let d = vec![0f32; 3];
        let err = Layout::check(&iface(&d, "<f4", &[3]), "image", Dtype::U8, false).unwrap_err();
        assert_eq!(err, Refusal::Dtype("image: expected uint8 data, got typestr <f4".into()));
        let b = vec![0u8; 3];
        for t in ["|b1", "|i1", "<u2", ">f4", "<f8"] {
            assert!(matches!(Layout::check(&iface(&b, t, &[3]), "x", Dtype::U8, false), Err(Refusal::Dtype(_))), "{t}");
        }
        assert!(matches!(Layout::check(&iface(&b, ">f4", &[3]), "x", Dtype::F32, false), Err(Refusal::Dtype(_))));
        for t in ["|u1", "<u1"] {
            Layout::check(&iface(&b, t, &[3]), "x", Dtype::U8, false).unwrap();
        }
    }

    #[test]
    fn strided_views_are_refused_unless_trivial() {
        let d = vec![0u8; 24];
        let mut i = iface(&d, "|u1", &[2, 4, 3]);
        i.strides = Some(vec![12, 3, 1]);
        Layout::check(&i, "image", Dtype::U8, false).unwrap();
        // image[:, ::2]: every other column.
        i.shape = vec![2, 2, 3];
        i.strides = Some(vec![12, 6, 1]);
        let err = Layout::check(&i, "image", Dtype::U8, false).unwrap_err();
        assert_eq!(err, Refusal::Layout("image: the array must be C-contiguous (strides [12, 6, 1])".into()));
        // A single element has no meaningful strides.
        i.shape = vec![1, 1, 1];
        i.strides = Some(vec![99, 7, 1]);
        Layout::check(&i, "image", Dtype::U8, false).unwrap();
    }

    #[test]
    fn read_only_and_masked_arrays_are_refused_where_it_matters() {
        let d = vec![0u8; 3];
        let mut i = iface(&d, "|u1", &[3]);
        i.readonly = true;
        Layout::check(&i, "image", Dtype::U8, false).unwrap();
        assert_eq!(Layout::check(&i, "out", Dtype::U8, true).unwrap_err().message(), "out: the array is read-only");
        i.readonly = false;
        i.masked = true;
        assert_eq!(Layout::check(&i, "image", Dtype::U8, false).unwrap_err().message(), "image: masked arrays are not supported");
    }

    #[test]
    fn overlap_is_found_by_bytes_not_elements() {
        let buf = vec![0u8; 64];
        let at = |off: usize, n: usize, dtype| Layout { ptr: buf.as_ptr() as usize + off, shape: vec![n], dtype };
        let a = at(0, 4, Dtype::F32); // bytes 0..16
        let b = at(16, 16, Dtype::U8); // bytes 16..32: touches a, does not overlap
        let c = at(15, 1, Dtype::U8); // byte 15: inside a
        let empty = at(8, 0, Dtype::U8);
        assert!(!any_overlap(&[&a, &b]));
        assert!(any_overlap(&[&a, &b, &c]));
        assert!(!any_overlap(&[&a, &empty]));
        assert!(!any_overlap(&[&a]));
    }
}
