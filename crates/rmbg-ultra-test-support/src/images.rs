//! Image files made to test the limits.

/// A valid PNG whose header claims `w`×`h` pixels, with next to no data: a decompression bomb as
/// the size checks see it, without the memory.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_reads_the_claimed_size_and_finds_no_pixels() {
        let bytes = png_claiming(100_000, 70_000);
        let reader = image::ImageReader::new(std::io::Cursor::new(&bytes)).with_guessed_format().unwrap();
        assert_eq!(reader.format(), Some(image::ImageFormat::Png));
        assert_eq!(reader.into_dimensions().unwrap(), (100_000, 70_000));
        assert!(image::load_from_memory(&png_claiming(3, 2)).is_err(), "the data is missing");
    }
}
