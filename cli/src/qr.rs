//! `foodtrace qr`: a QR code of a lot's public page, to print on a pack, a stall's sign
//! or a canteen's menu board, with the product name under it. The code holds the page's
//! URL: the GS1 Digital Link (`{base}/01/{GTIN}/10/{lot}`) when the lot has a GTIN, else
//! `{base}/l/{lot}`.
//!
//! One drawing, two formats: the SVG is the picture, and the PNG is that SVG rendered by
//! resvg, its text drawn with a font installed on this machine.

use std::sync::Arc;

use qrcode::{EcLevel, QrCode};
use resvg::{tiny_skia, usvg};

use crate::api::segment;

/// Pixels per module of the code (in the PNG, and the SVG's nominal size).
const SCALE: usize = 8;
/// Modules of white around the code (the QR standard's quiet zone).
const QUIET: usize = 4;
/// The name's largest font size, in modules.
const NAME_SIZE: f64 = 3.0;
/// Families tried for the name, in order (SVG readers fall back from the list).
const FONTS: &str =
    "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'PingFang SC', 'Microsoft YaHei', sans-serif";

/// The public page's URL for a lot.
pub fn page_url(base: &str, lot: &str) -> String {
    let base = base.trim_end_matches('/');
    match lot
        .strip_prefix("01/")
        .and_then(|rest| rest.split_once("/10/"))
    {
        Some((gtin, number)) => format!("{base}/01/{gtin}/10/{}", segment(number)),
        None => format!("{base}/l/{}", segment(lot)),
    }
}

fn code(url: &str) -> anyhow::Result<QrCode> {
    // Level M: survives a smudged or creased label, and stays small.
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| anyhow::anyhow!("the URL does not fit in a QR code: {e}"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The name's width in ems, roughly: wide (CJK, full-width) characters 1, others 0.6.
fn width_in_ems(text: &str) -> f64 {
    text.chars()
        .map(|c| if (c as u32) >= 0x1100 { 1.0 } else { 0.6 })
        .sum()
}

/// The name as it fits under a code `width` modules wide: its font size, shrunk for a
/// long name down to half, and the text, cut short with "…" past that.
fn fitted_name(name: &str, width: f64) -> (f64, String) {
    let room = width - 2.0;
    let wanted = width_in_ems(name) * NAME_SIZE;
    if wanted <= room {
        return (NAME_SIZE, name.to_owned());
    }
    let size = NAME_SIZE * room / wanted;
    if size >= NAME_SIZE / 2.0 {
        return (size, name.to_owned());
    }
    let size = NAME_SIZE / 2.0;
    let mut fitted = String::new();
    for c in name.chars() {
        if (width_in_ems(&fitted) + width_in_ems(&c.to_string()) + 1.0) * size > room {
            fitted.push('…');
            return (size, fitted);
        }
        fitted.push(c);
    }
    (size, fitted)
}

/// An SVG of the code with the product name under it.
pub fn svg(url: &str, product: &str) -> anyhow::Result<String> {
    let code = code(url)?;
    let modules = code.width();
    let size = modules + 2 * QUIET;
    let text_height = 6;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % modules + QUIET, i / modules + QUIET);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    let (font_size, name) = fitted_name(product, size as f64);
    Ok(format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {size} {vh}">"##,
            r##"<rect width="{size}" height="{vh}" fill="#fff"/>"##,
            r##"<path d="{path}" fill="#000" shape-rendering="crispEdges"/>"##,
            r##"<text x="{mid}" y="{ty}" font-size="{font_size}" text-anchor="middle" font-family="{fonts}">{name}</text>"##,
            "</svg>\n"
        ),
        w = size * SCALE,
        h = (size + text_height) * SCALE,
        size = size,
        vh = size + text_height,
        path = path,
        mid = size as f64 / 2.0,
        ty = size + 3,
        font_size = font_size,
        fonts = FONTS,
        name = escape(&name),
    ))
}

/// Whether a font face can draw `c`.
fn has_char(fonts: &usvg::fontdb::Database, face: usvg::fontdb::ID, c: char) -> bool {
    fonts
        .with_face_data(face, |data, index| {
            let font = skrifa::FontRef::from_index(data, index).ok()?;
            skrifa::MetadataProvider::charmap(&font).map(c)
        })
        .flatten()
        .is_some()
}

/// A PNG of the same picture as [`svg`] (8 pixels a module), and the first character
/// of the name no installed font can draw, if there is one (the picture then lacks it).
pub fn png(url: &str, product: &str) -> anyhow::Result<(Vec<u8>, Option<char>)> {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_system_fonts();
    let missing = product
        .chars()
        .filter(|c| !c.is_whitespace())
        .find(|&c| !fonts.faces().any(|face| has_char(&fonts, face.id, c)));
    // Generic families resolve to a face that can draw the name (fontdb's defaults name
    // fonts Linux rarely has).
    let drawing = fonts
        .faces()
        .find(|face| {
            product
                .chars()
                .all(|c| c.is_whitespace() || has_char(&fonts, face.id, c))
        })
        .or_else(|| fonts.faces().next())
        .map(|face| face.families[0].0.clone());
    if let Some(family) = drawing {
        fonts.set_sans_serif_family(family.clone());
        fonts.set_serif_family(family);
    }
    let options = usvg::Options {
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(&svg(url, product)?, &options)?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow::anyhow!("the picture has no size"))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    Ok((pixmap.encode_png()?, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_use_the_digital_link_when_there_is_a_gtin() {
        assert_eq!(
            page_url("https://trace.example.cn/", "01/09506000134352/10/CAB01"),
            "https://trace.example.cn/01/09506000134352/10/CAB01"
        );
        assert_eq!(
            page_url("http://10.0.0.5:8080", "HN001-1-00001"),
            "http://10.0.0.5:8080/l/HN001-1-00001"
        );
    }

    #[test]
    fn the_svg_escapes_the_product_name() {
        let svg = svg("http://x/l/A", "<b>白菜</b> & co").unwrap();
        assert!(svg.contains("&lt;b&gt;白菜&lt;/b&gt; &amp; co"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn long_names_shrink_then_are_cut_short() {
        assert_eq!(fitted_name("白菜", 33.0), (3.0, "白菜".to_owned()));
        let (size, name) = fitted_name("浑南有机大白菜（精品装）", 33.0);
        assert!((1.5..3.0).contains(&size), "{size}");
        assert_eq!(name, "浑南有机大白菜（精品装）");
        let long = "浑南区绿源蔬菜专业合作社有机种植基地精品大白菜礼盒装特级";
        let (size, name) = fitted_name(long, 33.0);
        assert_eq!(size, 1.5);
        assert!(name.ends_with('…') && name.chars().count() < long.chars().count());
        assert!(width_in_ems(&name) * size <= 31.0);
    }

    /// The PNG carries the name: the strip under the code has ink. Needs a font that
    /// draws Chinese (CI installs fonts-wqy-microhei).
    #[test]
    fn the_png_has_the_name_under_the_code() {
        let (bytes, missing) = png("http://x/l/A", "大白菜").unwrap();
        assert_eq!(
            missing, None,
            "install a CJK font: apt-get install fonts-wqy-microhei"
        );
        let image = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
        let (width, height) = (image.width() as usize, image.height() as usize);
        let code_height = width; // the code and its quiet zone are square
        assert_eq!(height, code_height + 6 * SCALE);
        let dark = |rows: std::ops::Range<usize>| {
            rows.flat_map(|y| (0..width).map(move |x| (x, y)))
                .filter(|&(x, y)| image.pixel(x as u32, y as u32).unwrap().red() < 128)
                .count()
        };
        assert!(dark(code_height..height) > 100, "the name is drawn");
        assert!(dark(0..QUIET * SCALE) == 0, "the quiet zone is white");

        let (_, missing) = png("http://x/l/A", "\u{10FFFD}").unwrap();
        assert_eq!(
            missing,
            Some('\u{10FFFD}'),
            "a character no font has is reported"
        );
    }
}
