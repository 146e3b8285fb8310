//! What the sender says about a file besides its bytes: a MIME type and, for images, a small
//! thumbnail.

use std::io::{BufReader, Cursor, Read, Seek};

use image::{ImageFormat, ImageReader, Limits};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 96;

/// Largest thumbnail carried in a message (JPEG bytes); a larger one is dropped.
pub const MAX_THUMBNAIL_LEN: usize = 16 * 1024;

/// Images larger than this are not decoded for a thumbnail (memory stays bounded).
const MAX_DECODE_ALLOC: u64 = 128 * 1024 * 1024;

/// The MIME type a file name suggests (`application/octet-stream` when unknown).
pub fn mime_for(name: &str) -> String {
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// A JPEG thumbnail of the image `source` holds, at most [`THUMBNAIL_MAX_SIDE`] pixels on its
/// longest side; `None` when it is not an image this build decodes, or it is too large to
/// decode safely.
pub fn thumbnail(source: impl Read + Seek) -> Option<Vec<u8>> {
    let mut reader = ImageReader::new(BufReader::new(source))
        .with_guessed_format()
        .ok()?;
    reader.format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let small = image
        .thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE)
        .into_rgb8();
    let mut out = Cursor::new(Vec::new());
    small.write_to(&mut out, ImageFormat::Jpeg).ok()?;
    let bytes = out.into_inner();
    (bytes.len() <= MAX_THUMBNAIL_LEN).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_from_names() {
        assert_eq!(mime_for("holiday.JPG"), "image/jpeg");
        assert_eq!(mime_for("clip.mp4"), "video/mp4");
        assert_eq!(mime_for("notes"), "application/octet-stream");
    }

    #[test]
    fn images_get_a_small_jpeg_thumbnail_and_other_files_none() {
        let picture = image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut png = Cursor::new(Vec::new());
        picture.write_to(&mut png, ImageFormat::Png).unwrap();
        png.set_position(0);
        let thumb = thumbnail(png).expect("a thumbnail");
        assert!(thumb.len() <= MAX_THUMBNAIL_LEN);
        let decoded = image::load_from_memory_with_format(&thumb, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (96, 72));

        assert_eq!(thumbnail(Cursor::new(b"just some text".to_vec())), None);
    }
}
