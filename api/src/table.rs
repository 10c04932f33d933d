//! Table-shaped answers as JSON or as CSV for spreadsheets.
//!
//! The CSV is what Dutch Excel opens correctly by double-click: UTF-8 with a byte-order
//! mark (else accents break), `;` between fields (Dutch Excel's list separator) and a
//! decimal comma in fractions (`12,5`). Dates stay ISO (`2026-11-23`), which Excel reads.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::ApiError;
use crate::params::Format;

/// One value in a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A count.
    Int(u64),
    /// A fraction or percentage; `None` when it cannot be computed (division by zero).
    Float(Option<f64>),
    /// Text.
    Text(String),
}

impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(v)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        Cell::Float(v)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(Some(v))
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}

/// A row type of a table-shaped answer.
pub trait Tabular {
    /// Column names, in order.
    const COLUMNS: &'static [&'static str];
    /// This row's values, in the order of [`Self::COLUMNS`].
    fn cells(&self) -> Vec<Cell>;
}

/// Writes rows as CSV (with BOM, `;` and decimal commas).
pub fn csv<R: Tabular>(rows: &[R]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::from(&b"\xEF\xBB\xBF"[..]);
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let fail = |e: csv::Error| {
            tracing::error!(error = %e, "writing CSV failed");
            ApiError::Internal
        };
        w.write_record(R::COLUMNS).map_err(fail)?;
        for r in rows {
            let fields: Vec<String> = r.cells().iter().map(csv_field).collect();
            w.write_record(&fields).map_err(fail)?;
        }
        w.flush().map_err(|_| ApiError::Internal)?;
    }
    Ok(out)
}

fn csv_field(c: &Cell) -> String {
    match c {
        Cell::Int(v) => v.to_string(),
        Cell::Float(None) => String::new(),
        Cell::Float(Some(v)) => v.to_string().replace('.', ","),
        // A leading =, +, - or @ would make Excel evaluate the cell as a formula; search
        // terms are typed by the public, so such text is quoted as text.
        Cell::Text(t) if t.starts_with(['=', '+', '-', '@']) => format!("'{t}"),
        Cell::Text(t) => t.clone(),
    }
}

/// The answer in the format asked: `body` as JSON, or `rows` as CSV named `filename`.
pub fn respond<T: Serialize, R: Tabular>(
    format: Format,
    body: &T,
    rows: &[R],
    filename: &str,
) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(body).into_response()),
        Format::Csv => Ok((
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}.csv\""),
                ),
            ],
            csv(rows)?,
        )
            .into_response()),
    }
}

/// A change in percent, one decimal; `None` when there is nothing to compare with.
pub fn change_pct(current: u64, before: u64) -> Option<f64> {
    (before > 0).then(|| round1((current as f64 - before as f64) / before as f64 * 100.0))
}

/// Rounded to one decimal.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(&'static str, u64, Option<f64>);
    impl Tabular for Row {
        const COLUMNS: &'static [&'static str] = &["term", "searches", "change_pct"];
        fn cells(&self) -> Vec<Cell> {
            vec![self.0.into(), self.1.into(), self.2.into()]
        }
    }

    #[test]
    fn csv_has_a_bom_semicolons_decimal_commas_and_no_formulas() {
        let out = csv(&[
            Row("kwijtschelding", 12, Some(12.5)),
            Row("hulp; schulden \"nu\"", 3, None),
            Row("=HYPERLINK(\"x\")", 1, Some(-3.0)),
        ])
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\u{feff}term;searches;change_pct\r\n\
             kwijtschelding;12;12,5\r\n\
             \"hulp; schulden \"\"nu\"\"\";3;\r\n\
             \"'=HYPERLINK(\"\"x\"\")\";1;-3\r\n"
        );
    }

    #[test]
    fn change_is_relative_to_the_earlier_figure() {
        assert_eq!(change_pct(118, 100), Some(18.0));
        assert_eq!(change_pct(2, 3), Some(-33.3));
        assert_eq!(change_pct(5, 0), None);
    }
}
