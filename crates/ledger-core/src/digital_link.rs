//! GS1 Digital Link URIs: what the QR code on a pack encodes (GS1 Digital Link standard
//! 1.x, the uncompressed form). The public lot page answers
//! `/01/{GTIN}/10/{lot}`, optionally followed by `/21/{serial}`, with an optional
//! `?17=YYMMDD` expiry date. A GTIN of 8, 12, 13 or 14 digits is accepted and padded to
//! GTIN-14, as the standard allows; its check digit must be right.

use chrono::NaiveDate;

use crate::ids::{InvalidValue, LotId, gtin_check_digit_ok};

/// A parsed Digital Link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalLink {
    /// The lot the link names (`01/{GTIN-14}/10/{lot}`).
    pub lot_id: LotId,
    /// The serial number of one pack (AI 21), if given.
    pub serial: Option<String>,
    /// The expiry date (AI 17), if given.
    pub expiry: Option<NaiveDate>,
}

/// What is wrong with a Digital Link, and which part: `gtin`, `lot`, `serial`, `17` or
/// `path`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {problem}")]
pub struct LinkError {
    /// The part at fault.
    pub part: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn error(part: &'static str, problem: impl Into<String>) -> LinkError {
    LinkError {
        part,
        problem: problem.into(),
    }
}

/// Parses a Digital Link path (`/01/…/10/…[/21/…]`, already percent-decoded segment by
/// segment) and its query's `17` value if any.
pub fn parse(path: &str, expiry: Option<&str>) -> Result<DigitalLink, LinkError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (gtin, lot, serial) = match segments.as_slice() {
        ["01", gtin, "10", lot] => (*gtin, *lot, None),
        ["01", gtin, "10", lot, "21", serial] => (*gtin, *lot, Some(*serial)),
        _ => {
            return Err(error(
                "path",
                "a Digital Link is /01/{GTIN}/10/{lot}, optionally followed by /21/{serial}",
            ));
        }
    };
    if !matches!(gtin.len(), 8 | 12 | 13 | 14) || !gtin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("gtin", "a GTIN is 8, 12, 13 or 14 digits"));
    }
    if !gtin_check_digit_ok(gtin) {
        return Err(error(
            "gtin",
            format!("the check digit of GTIN {gtin} is wrong"),
        ));
    }
    let gtin14 = format!("{gtin:0>14}");
    let lot_id = LotId::parse(&format!("01/{gtin14}/10/{lot}"))
        .map_err(|InvalidValue(problem)| error("lot", problem))?;
    let serial = serial
        .map(|serial| {
            let ok = !serial.is_empty()
                && serial.len() <= 20
                && serial.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(serial.to_owned())
            } else {
                Err(error(
                    "serial",
                    "a serial number is 1 to 20 printable characters",
                ))
            }
        })
        .transpose()?;
    let expiry = expiry
        .map(|text| {
            if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error("17", "an expiry date is YYMMDD"));
            }
            let number =
                |range: std::ops::Range<usize>| text[range].parse::<u32>().expect("digits");
            let (year, month, day) = (2000 + number(0..2) as i32, number(2..4), number(4..6));
            // GS1: day 00 means the last day of the month.
            let date = if day == 0 {
                NaiveDate::from_ymd_opt(year, month, 1)
                    .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
                    .and_then(|next| next.pred_opt())
            } else {
                NaiveDate::from_ymd_opt(year, month, day)
            };
            date.ok_or_else(|| error("17", format!("{text} is not a date")))
        })
        .transpose()?;
    Ok(DigitalLink {
        lot_id,
        serial,
        expiry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_with_serials_and_expiry() {
        let link = parse("/01/09506000134352/10/ABC123", None).unwrap();
        assert_eq!(link.lot_id.as_str(), "01/09506000134352/10/ABC123");
        assert_eq!((link.serial, link.expiry), (None, None));

        let link = parse("/01/9506000134352/10/ABC123/21/S-0001", Some("261231")).unwrap();
        assert_eq!(
            link.lot_id.as_str(),
            "01/09506000134352/10/ABC123",
            "GTIN-13 padded"
        );
        assert_eq!(link.serial.as_deref(), Some("S-0001"));
        assert_eq!(link.expiry, NaiveDate::from_ymd_opt(2026, 12, 31));
        let link = parse("/01/09506000134352/10/A", Some("270200")).unwrap();
        assert_eq!(
            link.expiry,
            NaiveDate::from_ymd_opt(2027, 2, 28),
            "day 00: month's end"
        );
    }

    #[test]
    fn bad_links_say_which_part_is_wrong() {
        let part = |path: &str, expiry: Option<&str>| parse(path, expiry).unwrap_err().part;
        assert_eq!(part("/01/09506000134353/10/A", None), "gtin");
        assert_eq!(part("/01/0950600013435X/10/A", None), "gtin");
        assert_eq!(part("/01/123/10/A", None), "gtin");
        assert_eq!(part("/01/09506000134352/10/<b>", None), "lot");
        assert_eq!(part("/01/09506000134352/10/A/21/", None), "serial");
        assert_eq!(part("/01/09506000134352/10/A", Some("261301")), "17");
        assert_eq!(part("/01/09506000134352/10/A", Some("2612")), "17");
        assert_eq!(part("/01/09506000134352", None), "path");
        assert_eq!(part("/10/A/01/09506000134352", None), "path");
        assert_eq!(
            parse("/01/09506000134353/10/A", None)
                .unwrap_err()
                .to_string(),
            "gtin: the check digit of GTIN 09506000134353 is wrong"
        );
    }
}
