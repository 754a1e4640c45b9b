//! Streaming CSV: bytes arrive in chunks (a request body, or an upload stored in pieces), a
//! blocking thread parses them with the `csv` crate, and batches of records come back to the
//! async side. The whole file is never in memory at once.
//!
//! Spreadsheet habits handled here: a UTF-8 byte-order mark, `;` or tab instead of `,`
//! (Excel in many locales), blank lines, header names in Vietnamese with or without accents.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::rc::Rc;

use actix_web::web::Bytes;
use tokio::sync::mpsc;

use crate::error::Msg;
use crate::fields::fold;

/// One problem in a file. `row` counts lines as a spreadsheet does: the header is row 1.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub column: String,
    pub msg: Msg,
}

impl RowError {
    pub fn new(row: u64, column: impl Into<String>, msg: Msg) -> Self {
        Self {
            row,
            column: column.into(),
            msg,
        }
    }
}

/// A column the importer understands: its canonical name and the other names it accepts
/// (compared folded: lower case, no accents, `_`/`-` as spaces).
pub struct Column {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

/// A data row: the line it started on and its cells by canonical column name (only columns
/// present in the header). Cells that are not UTF-8 are reported and the row is dropped.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: u64,
    cells: HashMap<&'static str, String>,
}

impl Record {
    /// The cell, trimmed; None when the column is absent or the cell empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .get(column)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.cells.contains_key(column)
    }
}

pub enum Parsed {
    Records(Vec<Record>),
    Problems(Vec<RowError>),
}

pub const BATCH: usize = 500;

/// Reads from a channel of byte chunks on a blocking thread.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Spreadsheet row numbers. The csv crate's own line count skips blank lines and miscounts
/// CRLF files (Excel's), and a quoted cell may span lines; a spreadsheet shows one row per
/// record, blank lines included. So the bytes are watched as they pass: every line break
/// outside quotes ends a row.
#[derive(Default)]
struct Rows {
    /// Offsets of unquoted `\n` not yet counted.
    newlines: VecDeque<u64>,
    /// Offsets of unquoted `\r` and `\n` not yet passed.
    breaks: VecDeque<u64>,
    counted: u64,
}

impl Rows {
    /// The spreadsheet row of the record the csv reader reports at byte `at`: its reported
    /// start may sit on line breaks it skipped, so step past those first.
    fn row_at(&mut self, at: u64) -> u64 {
        while self.breaks.front().is_some_and(|b| *b < at) {
            self.breaks.pop_front();
        }
        let mut start = at;
        while self.breaks.front() == Some(&start) {
            self.breaks.pop_front();
            start += 1;
        }
        while self.newlines.front().is_some_and(|n| *n < start) {
            self.newlines.pop_front();
            self.counted += 1;
        }
        self.counted + 1
    }
}

struct CountingReader<R> {
    inner: R,
    offset: u64,
    in_quotes: bool,
    rows: Rc<RefCell<Rows>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rows = self.rows.borrow_mut();
        for b in &buf[..n] {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    rows.newlines.push_back(self.offset);
                    rows.breaks.push_back(self.offset);
                }
                b'\r' if !self.in_quotes => rows.breaks.push_back(self.offset),
                _ => {}
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

fn column_for(columns: &[Column], header: &str) -> Option<&'static str> {
    let key = fold(header).replace(['_', '-'], " ");
    columns
        .iter()
        .find(|c| fold(c.name).replace('_', " ") == key || c.aliases.contains(&key.as_str()))
        .map(|c| c.name)
}

fn delimiter(first_line: &[u8]) -> u8 {
    let count = |d: u8| first_line.iter().filter(|b| **b == d).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| count(*d))
        .unwrap_or(b',')
}

/// Starts parsing: feed chunks into the returned sender (drop it at the end of the file) and
/// read batches from the returned receiver. A missing required column ends the parse with one
/// problem per missing column on row 1.
pub fn start(columns: &'static [Column]) -> (mpsc::Sender<Bytes>, mpsc::Receiver<Parsed>) {
    let (byte_tx, byte_rx) = mpsc::channel::<Bytes>(4);
    let (out_tx, out_rx) = mpsc::channel::<Parsed>(4);
    tokio::task::spawn_blocking(move || parse(columns, byte_rx, out_tx));
    (byte_tx, out_rx)
}

fn parse(columns: &'static [Column], byte_rx: mpsc::Receiver<Bytes>, out: mpsc::Sender<Parsed>) {
    let mut reader = ChannelReader {
        rx: byte_rx,
        current: Bytes::new(),
    };
    // Look at the start of the file: byte-order mark and delimiter.
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    while !head.contains(&b'\n') && head.len() < 64 * 1024 {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let start = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let first_line = head[start..]
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    let delim = delimiter(first_line);
    let rows = Rc::new(RefCell::new(Rows::default()));
    let source = CountingReader {
        inner: std::io::Cursor::new(head[start..].to_vec()).chain(reader),
        offset: 0,
        in_quotes: false,
        rows: rows.clone(),
    };
    let row_at = |at: u64| rows.borrow_mut().row_at(at);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delim)
        .flexible(true)
        .from_reader(source);
    let send = |p: Parsed| out.blocking_send(p).is_ok();

    let headers = match csv.byte_headers() {
        Ok(h) if !h.is_empty() => h.clone(),
        Ok(_) => {
            send(Parsed::Problems(vec![RowError::new(
                1,
                "",
                Msg::new("import-empty"),
            )]));
            return;
        }
        Err(e) => {
            send(Parsed::Problems(vec![RowError::new(
                1,
                "",
                Msg::new("import-unreadable").arg("detail", e),
            )]));
            return;
        }
    };
    let mut index: Vec<(usize, &'static str)> = Vec::new();
    for (i, raw) in headers.iter().enumerate() {
        if let Some(col) = column_for(columns, &String::from_utf8_lossy(raw)) {
            if !index.iter().any(|(_, c)| *c == col) {
                index.push((i, col));
            }
        }
    }
    let missing: Vec<RowError> = columns
        .iter()
        .filter(|c| c.required && !index.iter().any(|(_, n)| *n == c.name))
        .map(|c| RowError::new(1, c.name, Msg::new("import-missing-column")))
        .collect();
    if !missing.is_empty() {
        send(Parsed::Problems(missing));
        return;
    }

    let mut batch = Vec::with_capacity(BATCH);
    let mut problems = Vec::new();
    for record in csv.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map(|p| row_at(p.byte())).unwrap_or(0);
                // An I/O error ends the stream; a malformed row does not.
                let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                problems.push(RowError::new(
                    row,
                    "",
                    Msg::new("import-unreadable").arg("detail", e),
                ));
                if fatal {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map(|p| row_at(p.byte())).unwrap_or(0);
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if record.len() > headers.len() {
            problems.push(RowError::new(
                line,
                "",
                Msg::new("import-too-many-fields").arg("expected", headers.len()),
            ));
            continue;
        }
        let mut cells = HashMap::with_capacity(index.len());
        let mut ok = true;
        for (i, name) in &index {
            match std::str::from_utf8(record.get(*i).unwrap_or_default()) {
                Ok(s) => {
                    cells.insert(*name, s.to_string());
                }
                Err(_) => {
                    problems.push(RowError::new(line, *name, Msg::new("import-not-utf8")));
                    ok = false;
                }
            }
        }
        if ok {
            batch.push(Record { line, cells });
        }
        if batch.len() >= BATCH {
            if !problems.is_empty() && !send(Parsed::Problems(std::mem::take(&mut problems))) {
                return;
            }
            if !send(Parsed::Records(std::mem::replace(
                &mut batch,
                Vec::with_capacity(BATCH),
            ))) {
                return;
            }
        }
    }
    if !problems.is_empty() {
        send(Parsed::Problems(problems));
    }
    if !batch.is_empty() {
        send(Parsed::Records(batch));
    }
}

/// Parses a file already in memory (small files: school lists) into records and problems.
pub async fn read_all(columns: &'static [Column], content: Bytes) -> (Vec<Record>, Vec<RowError>) {
    let (tx, mut rx) = start(columns);
    let feeder = tokio::spawn(async move {
        let mut rest = content;
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(64 * 1024));
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    while let Some(p) = rx.recv().await {
        match p {
            Parsed::Records(r) => records.extend(r),
            Parsed::Problems(e) => problems.extend(e),
        }
    }
    let _ = feeder.await;
    (records, problems)
}

/// A problem as reported to people: the message in their language and its stable code.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RowErrorView {
    pub row: u64,
    pub column: String,
    pub message: String,
    /// Stable code of the reason, e.g. `error-required`.
    pub code: String,
}

impl RowError {
    pub fn view(
        &self,
        i18n: &crate::web::i18n::I18n,
        lang: crate::web::i18n::Lang,
    ) -> RowErrorView {
        RowErrorView {
            row: self.row,
            column: self.column.clone(),
            message: i18n.msg(lang, &self.msg),
            code: self.msg.key.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[Column] = &[
        Column {
            name: "code",
            aliases: &["ma"],
            required: true,
        },
        Column {
            name: "name",
            aliases: &["ten"],
            required: true,
        },
        Column {
            name: "note",
            aliases: &["ghi chu"],
            required: false,
        },
    ];

    #[tokio::test]
    async fn whole_files_in_memory() {
        let (records, problems) = read_all(COLS, Bytes::from_static(b"ma,ten\nA,B\n")).await;
        assert!(problems.is_empty());
        assert_eq!(records[0].get("code"), Some("A"));
    }

    async fn run(chunks: Vec<&'static [u8]>) -> (Vec<Record>, Vec<RowError>) {
        let (tx, mut rx) = start(COLS);
        tokio::spawn(async move {
            for c in chunks {
                if tx.send(Bytes::from_static(c)).await.is_err() {
                    return;
                }
            }
        });
        let (mut records, mut problems) = (Vec::new(), Vec::new());
        while let Some(p) = rx.recv().await {
            match p {
                Parsed::Records(r) => records.extend(r),
                Parsed::Problems(e) => problems.extend(e),
            }
        }
        (records, problems)
    }

    #[tokio::test]
    async fn chunks_split_anywhere_bom_and_semicolons() {
        let (records, problems) = run(vec![
            b"\xEF\xBB\xBFM\xC3\xA3;T\xC3",
            b"\xAAn;Ghi ch\xC3\xBA\nA1;Tr\xC6\xB0",
            b"\xE1\xBB\x9Dng;\n\n\"B;2\";\"x\ny\";z\n",
        ])
        .await;
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].get("name"), Some("Trường"));
        assert_eq!(records[0].get("note"), None);
        assert!(records[0].has_column("note"));
        assert_eq!(records[1].line, 4);
        assert_eq!(records[1].get("code"), Some("B;2"));
        assert_eq!(records[1].get("name"), Some("x\ny"));
    }

    #[tokio::test]
    async fn rows_are_counted_as_a_spreadsheet_shows_them() {
        let (records, _) = run(vec![b"code,name\r\nA,1\r\n\r\nB,2\r\nC,\"x\r\ny\"\r\nD,4"]).await;
        let rows: Vec<u64> = records.iter().map(|r| r.line).collect();
        assert_eq!(rows, [2, 4, 5, 6]);
        let (records, _) = run(vec![b"code,name\n\n\nA,1\n", b"\n", b"B,2\n"]).await;
        let rows: Vec<u64> = records.iter().map(|r| r.line).collect();
        assert_eq!(rows, [4, 6]);
    }

    #[tokio::test]
    async fn missing_columns_and_bad_bytes() {
        let (_, problems) = run(vec![b"code,other\n1,2\n"]).await;
        assert_eq!(
            problems,
            vec![RowError::new(1, "name", Msg::new("import-missing-column"))]
        );
        let (records, problems) = run(vec![b"code,name\nA,\xff\nB,ok,extra\nC,ok\n"]).await;
        assert_eq!(records.len(), 1);
        assert_eq!(
            problems[0],
            RowError::new(2, "name", Msg::new("import-not-utf8"))
        );
        assert_eq!(problems[1].row, 3);
    }
}
