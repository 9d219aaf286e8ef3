//! Attested queries over content-addressed data (seed 003, "Attestation Runtime"): the data is
//! self-certifying (named by its hash), so a TEE that checks it against its name, runs a declared
//! query over it and signs (query, data, result) lets a client use the answer without fetching
//! or computing anything.
//!
//! ```text
//! ATTESTED_QUERY / RUN
//!   originalMessage = abi.encode(bytes32 object, uint64 size, Query)          (7 static words)
//!   Query           = (uint8 aggregate, uint8 column, uint8 filterColumn, uint8 filterOp,
//!                      int64 filterValue)
//!   data            = the object's `size` bytes (object = their SHA-256): records, each a line
//!                     ending in '\n', fields separated by ','; a field the query reads is a
//!                     decimal int64 ("-" allowed, no "+", no leading zeros); lines ≤ 4096 bytes
//!   output          = abi.encode(bytes32 object, uint64 size, Query, uint64 records,
//!                                uint64 matched, int256 value)            (10 static words)
//! aggregate: 0 COUNT (column 0; value = matched), 1 SUM, 2 MIN, 3 MAX of `column` over the
//!            matching records (SUM, MIN, MAX of none: 0, and matched = 0 says so)
//! filterOp:  0 none (filterColumn and filterValue 0), 1 ==, 2 !=, 3 <, 4 <=, 5 >, 6 >=
//!            comparing field `filterColumn` with `filterValue`
//! ```
//! Columns count from 0. Data that is not the object, or records the query cannot read, fail the
//! instruction (the error says which); the query never sees unverified data as an answer. One
//! pass, constant memory (one line kept across chunks).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use fcc_extension::abi::{self, Reader, Token, Word};
use fcc_extension::{
    Admission, Call, DataRequest, Extension, ExtensionError, H256, Job, MAX_EXTENSION_DATA_LEN, Operation, Services,
    Started, name,
};
use sha2::{Digest, Sha256};

/// `ATTESTED_QUERY / RUN`.
pub const RUN: Operation = Operation {
    op_type: name("ATTESTED_QUERY"),
    op_command: name("RUN"),
    admission: Admission::FLARE_DEFAULT,
    max_data_len: MAX_EXTENSION_DATA_LEN,
    max_output_len: OUTPUT_LEN,
};

/// The request's length: seven static words.
pub const REQUEST_LEN: usize = 7 * 32;
/// The output's length: ten static words.
pub const OUTPUT_LEN: usize = 10 * 32;
/// Longest record, its newline included.
pub const MAX_LINE: usize = 4096;

/// Error codes (the result's log says more).
pub mod code {
    /// The request does not decode.
    pub const MALFORMED: u16 = 1;
    /// The query is not one of the declared ones.
    pub const BAD_QUERY: u16 = 2;
    /// The data is not the object it was named by.
    pub const NOT_THE_OBJECT: u16 = 3;
    /// A record the query cannot read.
    pub const BAD_RECORD: u16 = 4;
}

/// The aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Matching records.
    Count,
    /// Sum of a column.
    Sum,
    /// Least value of a column.
    Min,
    /// Greatest value of a column.
    Max,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// ==
    Eq,
    /// !=
    Ne,
    /// <
    Lt,
    /// <=
    Le,
    /// >
    Gt,
    /// >=
    Ge,
}

impl Cmp {
    fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A declared query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// What to compute.
    pub aggregate: Aggregate,
    /// Over which column (0 for COUNT).
    pub column: u8,
    /// Which records: `None`, all.
    pub filter: Option<(u8, Cmp, i64)>,
}

/// What an instruction asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The data: the SHA-256 of its bytes.
    pub object: H256,
    /// Its size.
    pub size: u64,
    /// The query.
    pub query: Query,
}

fn int_word(v: i128) -> Word {
    let mut w = if v < 0 { [0xff; 32] } else { [0; 32] };
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// An `int64` word: sign-extended, strictly.
fn read_int64(w: &Word) -> Option<i64> {
    let v = i64::from_be_bytes(w[24..].try_into().expect("8 bytes"));
    let fill = if v < 0 { 0xff } else { 0 };
    w[..24].iter().all(|&b| b == fill).then_some(v)
}

impl Query {
    fn words(&self) -> [Word; 5] {
        let aggregate = match self.aggregate {
            Aggregate::Count => 0,
            Aggregate::Sum => 1,
            Aggregate::Min => 2,
            Aggregate::Max => 3,
        };
        let (filter_column, op, value) = match self.filter {
            None => (0, 0, 0),
            Some((c, cmp, v)) => (c, cmp as u64 + 1, v),
        };
        [
            abi::uint(aggregate),
            abi::uint(u64::from(self.column)),
            abi::uint(u64::from(filter_column)),
            abi::uint(op),
            int_word(i128::from(value)),
        ]
    }
}

impl Request {
    /// Decodes the request strictly: every word in its type's range, every field as declared.
    pub fn decode(message: &[u8]) -> Result<Self, ExtensionError> {
        let malformed = abi::malformed("request: abi.encode(bytes32 object, uint64 size, Query)");
        let bad_query = |why| ExtensionError::new(code::BAD_QUERY, why);
        let r = Reader::new(message, "attested query request");
        let object = *r.word(0).map_err(&malformed)?;
        let size = r.uint(32, 64).map_err(&malformed)?;
        let small = |at| r.uint(at, 8).map_err(&malformed).map(|v| v as u8);
        let (aggregate, column, filter_column, op) = (small(64)?, small(96)?, small(128)?, small(160)?);
        let value = read_int64(r.word(192).map_err(&malformed)?)
            .ok_or(ExtensionError::new(code::MALFORMED, "request: filterValue is not an int64"))?;
        r.finish(REQUEST_LEN).map_err(&malformed)?;
        let aggregate = match aggregate {
            0 if column == 0 => Aggregate::Count,
            0 => return Err(bad_query("COUNT takes column 0")),
            1 => Aggregate::Sum,
            2 => Aggregate::Min,
            3 => Aggregate::Max,
            _ => return Err(bad_query("aggregate is not 0 (COUNT), 1 (SUM), 2 (MIN) or 3 (MAX)")),
        };
        let cmp = [Cmp::Eq, Cmp::Ne, Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge];
        let filter = match op {
            0 if filter_column == 0 && value == 0 => None,
            0 => return Err(bad_query("no filter takes filterColumn 0 and filterValue 0")),
            1..=6 => Some((filter_column, cmp[usize::from(op) - 1], value)),
            _ => return Err(bad_query("filterOp is not 0..=6")),
        };
        Ok(Self { object, size, query: Query { aggregate, column, filter } })
    }

    /// The request's encoding.
    pub fn encode(&self) -> Vec<u8> {
        let q = self.query.words();
        let mut tokens = alloc::vec![Token::Word(self.object), Token::Word(abi::uint(self.size))];
        tokens.extend(q.iter().map(|w| Token::Word(*w)));
        abi::encode_tuple(&tokens)
    }
}

/// A query's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Answer {
    /// Records read.
    pub records: u64,
    /// Records the filter matched.
    pub matched: u64,
    /// The aggregate (COUNT: `matched`; 0 for SUM, MIN, MAX of no record).
    pub value: i128,
}

impl Answer {
    /// The output for `request`.
    pub fn encode(&self, request: &Request) -> Vec<u8> {
        let mut out = Request::encode(request);
        for w in [abi::uint(self.records), abi::uint(self.matched), int_word(self.value)] {
            out.extend_from_slice(&w);
        }
        out
    }
}

/// Parses a strict decimal int64.
fn parse_int(field: &[u8]) -> Option<i64> {
    let digits = field.strip_prefix(b"-").unwrap_or(field);
    let canonical = match digits {
        [] => false,
        [b'0'] => field.len() == 1, // "-0" is not canonical
        [first, ..] => *first != b'0',
    };
    if !canonical || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(field).ok()?.parse().ok()
}

/// The query's state over the records read so far.
#[derive(Debug, Clone)]
pub struct Evaluator {
    query: Query,
    answer: Answer,
}

impl Evaluator {
    /// Before any record.
    pub fn new(query: Query) -> Self {
        Self { query, answer: Answer::default() }
    }

    /// One record (its line without the newline).
    pub fn record(&mut self, line: &[u8]) -> Result<(), &'static str> {
        let field = |c: u8| -> Result<i64, &'static str> {
            let f = line.split(|&b| b == b',').nth(usize::from(c)).ok_or("a record lacks a column the query reads")?;
            parse_int(f).ok_or("a field the query reads is not a decimal int64")
        };
        self.answer.records += 1;
        if let Some((c, cmp, v)) = self.query.filter
            && !cmp.holds(field(c)?, v)
        {
            return Ok(());
        }
        let a = &mut self.answer;
        let first = a.matched == 0;
        a.matched += 1;
        let x = match self.query.aggregate {
            Aggregate::Count => {
                a.value = i128::from(a.matched);
                return Ok(());
            }
            _ => i128::from(field(self.query.column)?),
        };
        a.value = match self.query.aggregate {
            Aggregate::Sum => a.value + x,
            Aggregate::Min if first => x,
            Aggregate::Min => a.value.min(x),
            Aggregate::Max if first => x,
            Aggregate::Max => a.value.max(x),
            Aggregate::Count => unreachable!("returned above"),
        };
        Ok(())
    }

    /// The answer so far.
    pub fn answer(&self) -> Answer {
        self.answer
    }
}

/// The extension.
pub struct AttestedQuery;

/// The extension, for the image's list.
pub static EXTENSION: AttestedQuery = AttestedQuery;

impl Extension for AttestedQuery {
    fn name(&self) -> &'static str {
        "attested-query"
    }

    fn operations(&self) -> &'static [Operation] {
        &[RUN]
    }

    fn start(&self, call: &Call<'_>) -> Result<Started, ExtensionError> {
        let request = Request::decode(&call.instruction.original_message)?;
        let job = Running {
            request,
            hasher: Sha256::new(),
            line: Vec::new(),
            evaluator: Evaluator::new(request.query),
            error: None,
        };
        Ok(Started { job: Box::new(job), data: Some(DataRequest { object: request.object, len: request.size }) })
    }
}

/// A query running over its data.
pub struct Running {
    request: Request,
    hasher: Sha256,
    /// The record that began in an earlier chunk.
    line: Vec<u8>,
    evaluator: Evaluator,
    /// The first record the query could not read (reported once the data is known to be the
    /// object: a wrong object is the error then).
    error: Option<&'static str>,
}

impl Running {
    fn take(&mut self, mut bytes: &[u8]) {
        while self.error.is_none() && !bytes.is_empty() {
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                if self.line.len() + bytes.len() >= MAX_LINE {
                    self.error = Some("a record is longer than 4096 bytes");
                }
                self.line.extend_from_slice(bytes);
                return;
            };
            if self.line.len() + end >= MAX_LINE {
                self.error = Some("a record is longer than 4096 bytes");
                return;
            }
            let outcome = if self.line.is_empty() {
                self.evaluator.record(&bytes[..end])
            } else {
                self.line.extend_from_slice(&bytes[..end]);
                let r = self.evaluator.record(&self.line);
                self.line.clear();
                r
            };
            if let Err(e) = outcome {
                self.error = Some(e);
            }
            bytes = &bytes[end + 1..];
        }
    }
}

impl Job for Running {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), ExtensionError> {
        self.hasher.update(chunk);
        self.take(chunk);
        Ok(())
    }

    fn finish(self: Box<Self>, _: &mut dyn Services) -> Result<Vec<u8>, ExtensionError> {
        let digest: H256 = self.hasher.finalize().into();
        if digest != self.request.object {
            return Err(ExtensionError::new(code::NOT_THE_OBJECT, "the data is not the object it was named by"));
        }
        if let Some(e) = self.error {
            return Err(ExtensionError::new(code::BAD_RECORD, e));
        }
        if !self.line.is_empty() {
            return Err(ExtensionError::new(code::BAD_RECORD, "the last record does not end in a newline"));
        }
        Ok(self.evaluator.answer().encode(&self.request))
    }
}

/// What the devnet sends to show it working: SUM of column 1 where column 0 >= -3 over three
/// records (PROTOCOL.md §8.9's example), whose answer, 19, is known in advance.
pub fn examples() -> Vec<fcc_extension::Example> {
    let records = b"-5,10\n0,20\n7,-1\n";
    let object: H256 = Sha256::digest(records).into();
    let query = Query { aggregate: Aggregate::Sum, column: 1, filter: Some((0, Cmp::Ge, -3)) };
    let request = Request { object, size: records.len() as u64, query };
    let answer = Answer { records: 3, matched: 2, value: 19 };
    alloc::vec![fcc_extension::Example {
        what: "SUM(column 1) WHERE column 0 >= -3 over three records = 19",
        operation: RUN,
        message: request.encode(),
        data: records.to_vec(),
        output: Some(answer.encode(&request)),
    }]
}
