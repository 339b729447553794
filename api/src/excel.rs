//! CSV files as Greek Excel opens them on a double click: UTF-8 with a byte-order mark,
//! `;` between cells (Greek Excel's list separator: the comma is its decimal mark), CRLF
//! line ends, quoting by the `csv` crate where a cell holds the separator, a quote or a line
//! break. Cells of text (not numbers or days) go through [`guarded`]: a text that a
//! spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a leading tab or carriage
//! return) is kept as text with a leading apostrophe.

use std::borrow::Cow;

/// A CSV file being written, a row at a time.
pub struct ExcelCsv(csv::Writer<Vec<u8>>);

impl Default for ExcelCsv {
    fn default() -> Self {
        Self(
            csv::WriterBuilder::new()
                .delimiter(b';')
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new()),
        )
    }
}

impl ExcelCsv {
    /// Adds a row. Every row of a file has the same number of cells (the writer refuses
    /// otherwise), and writing into memory cannot fail otherwise.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.0
            .write_record(cells.into_iter().map(|c| c.as_ref().to_string()))
            .expect("rows of equal length, written into memory");
    }

    /// The file's text, with the byte-order mark.
    pub fn finish(self) -> String {
        let bytes = self.0.into_inner().expect("a writer into memory flushes");
        let text = String::from_utf8(bytes).expect("the cells are UTF-8 text");
        format!("\u{feff}{text}")
    }
}

/// A cell's text, with an apostrophe before what a spreadsheet would run as a formula.
pub fn guarded(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A number of days with one decimal and a decimal comma: `5,0`.
pub fn days(days: f64) -> String {
    format!("{days:.1}").replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_guarded_and_separated_for_greek_excel() {
        let mut csv = ExcelCsv::default();
        csv.row(["α;β", "«Ο \"Μύλος\"»", "=1+1", "απλό", "γραμμή\nδεύτερη"].map(|t| guarded(t)));
        csv.row(["1", "2", "3", "-4,50", "5"]);
        assert_eq!(
            csv.finish(),
            "\u{feff}\"α;β\";\"«Ο \"\"Μύλος\"\"»\";'=1+1;απλό;\"γραμμή\nδεύτερη\"\r\n\
             1;2;3;-4,50;5\r\n"
        );
        assert_eq!(days(5.04), "5,0");
    }
}
