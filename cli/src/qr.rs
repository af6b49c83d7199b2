//! `foodtrace qr`: a QR code of a lot's public page, to print on a pack, a stall's sign
//! or a canteen's menu board. The code holds the page's URL: the GS1 Digital Link
//! (`{base}/01/{GTIN}/10/{lot}`) when the lot has a GTIN, else `{base}/l/{lot}`.

use qrcode::{EcLevel, QrCode};

use crate::api::segment;

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

/// An SVG of the code with the product name under it.
pub fn svg(url: &str, product: &str) -> anyhow::Result<String> {
    let code = code(url)?;
    let modules = code.width();
    let quiet = 4;
    let size = modules + 2 * quiet;
    let scale = 8;
    let text_height = 6;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % modules + quiet, i / modules + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {size} {vh}">"##,
            r##"<rect width="{size}" height="{vh}" fill="#fff"/>"##,
            r##"<path d="{path}" fill="#000"/>"##,
            r##"<text x="{mid}" y="{ty}" font-size="3" text-anchor="middle" font-family="sans-serif">{name}</text>"##,
            "</svg>\n"
        ),
        w = size * scale,
        h = (size + text_height) * scale,
        size = size,
        vh = size + text_height,
        path = path,
        mid = size as f64 / 2.0,
        ty = size + 3,
        name = escape(product),
    ))
}

/// A PNG of the code (8 pixels a module, with its quiet zone).
pub fn png(url: &str) -> anyhow::Result<Vec<u8>> {
    let image = code(url)?
        .render::<image::Luma<u8>>()
        .module_dimensions(8, 8)
        .quiet_zone(true)
        .build();
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(bytes.into_inner())
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
}
