//! A citizen's printable record of a case (issue 16): its timeline as a PDF, with the hash
//! of the event the record ends at, so that the citizen keeps proof of what happened and an
//! auditor can check it against the log (`/audit/cases/{id}`: the hash of that event).
//! Written with printpdf in DejaVu Sans (shipped in `api/fonts/`, with its licence), which
//! has the Greek glyphs; lines are wrapped by words to the page's width.

use printpdf::{
    Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// A4, in millimetres, and the margins.
const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 20.0;
/// Body text: 10 pt on 14 pt lines.
const SIZE: f32 = 10.0;
const LINE_MM: f32 = 14.0 * 0.352_778;
/// Characters per line at 10 pt in DejaVu Sans across 170 mm: its capitals are up to about
/// 0.78 em wide (a line of 68 of them measures about 150 mm), so even a line in capitals
/// stays inside the margins; ordinary text leaves some room.
const CHARS_PER_LINE: usize = 68;

/// One line of the record, with its emphasis.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Title(String),
    Heading(String),
    Text(String),
    /// Space between blocks.
    Gap,
}

/// `text` broken at spaces into lines of at most `width` characters (a word longer than
/// a line is cut); the text's own line breaks are kept.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let mut word = word.to_string();
            while word.chars().count() > width {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(head);
            }
            let needed =
                line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// The PDF of `lines`, on as many A4 pages as they need; `title` is the document's.
pub fn pdf(title: &str, lines: &[Line]) -> Result<Vec<u8>, String> {
    let font = ParsedFont::from_bytes(FONT, 0, &mut Vec::new())
        .ok_or_else(|| "the record's font does not parse".to_string())?;
    let mut doc = PdfDocument::new(title);
    let font = doc.add_font(&font);
    let mut pages = Vec::new();
    let mut ops = Vec::new();
    let mut y = PAGE_HEIGHT - MARGIN;
    let text = |ops: &mut Vec<Op>, text: &str, size: f32, y: f32| {
        ops.push(Op::StartTextSection);
        ops.push(Op::SetTextCursor {
            pos: Point::new(Mm(MARGIN), Mm(y)),
        });
        ops.push(Op::SetFont {
            font: PdfFontHandle::External(font.clone()),
            size: Pt(size),
        });
        ops.push(Op::ShowText {
            items: vec![TextItem::Text(text.to_string())],
        });
        ops.push(Op::EndTextSection);
    };
    for line in lines {
        let (size, height, wrapped) = match line {
            Line::Title(t) => (16.0, 9.0, wrap(t, 42)),
            Line::Heading(t) => (12.0, 6.5, wrap(t, 56)),
            Line::Text(t) => (SIZE, LINE_MM, wrap(t, CHARS_PER_LINE)),
            Line::Gap => (SIZE, LINE_MM / 2.0, Vec::new()),
        };
        if wrapped.is_empty() {
            y -= height;
            continue;
        }
        for piece in wrapped {
            if y - height < MARGIN {
                pages.push(PdfPage::new(
                    Mm(PAGE_WIDTH),
                    Mm(PAGE_HEIGHT),
                    std::mem::take(&mut ops),
                ));
                y = PAGE_HEIGHT - MARGIN;
            }
            y -= height;
            text(&mut ops, &piece, size, y);
        }
    }
    pages.push(PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops));
    let mut warnings = Vec::new();
    Ok(doc
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap("α β γ δ", 3), ["α β", "γ δ"]);
        assert_eq!(wrap("αβγδεζ", 4), ["αβγδ", "εζ"]);
        assert_eq!(wrap("πρώτη\nδεύτερη", 40), ["πρώτη", "δεύτερη"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn a_long_record_is_a_pdf_of_several_pages() {
        let mut lines = vec![Line::Title("Ιστορικό αιτήματος 2026/000001".into())];
        for n in 0..120 {
            lines.push(Line::Text(format!(
                "{n}. Υποβλήθηκε το αίτημα — Ανώνυμος πολίτης"
            )));
        }
        let bytes = pdf("Ιστορικό", &lines).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        if let Ok(path) = std::env::var("RECORD_PDF_SAMPLE") {
            std::fs::write(path, &bytes).unwrap();
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/Count 3"), "three pages");
    }
}
