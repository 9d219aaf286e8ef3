//! ATTESTED_QUERY/RUN through the real engine (`fcc_extension::testing`): answers judged by
//! Python over the same records (its integers do not overflow), SHA-256 by Python's `hashlib`,
//! the encodings by alloy.

use alloy_sol_types::{SolType, sol};
use fcc_ext_attested_query::{Aggregate, Cmp, EXTENSION, MAX_LINE, Query, RUN, Request};
use fcc_extension::H256;
use fcc_extension::testing::{Outcome, TestTee};

sol! {
    struct QueryWords {
        uint8 aggregate;
        uint8 column;
        uint8 filterColumn;
        uint8 filterOp;
        int64 filterValue;
    }
    struct QueryOutput {
        bytes32 object;
        uint64 size;
        QueryWords query;
        uint64 records;
        uint64 matched;
        int256 value;
    }
}

/// Runs `script` with `python3 -c`, the records file as its argument; its stdout.
fn python(script: &str, data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("fcc-query-{}-{}", std::process::id(), rand_suffix(data)));
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output().expect("python3");
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn rand_suffix(data: &[u8]) -> String {
    hex::encode(&fcc_extension::keccak256(data)[..6])
}

fn sha256(data: &[u8]) -> H256 {
    let hex = python("import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", data);
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// Python's answer (arbitrary-precision integers): (records, matched, value) for `query`.
fn python_answer(query: &Query, data: &[u8]) -> (u64, u64, i128) {
    let agg = match query.aggregate {
        Aggregate::Count => "len(m)".to_string(),
        Aggregate::Sum => format!("sum(r[{}] for r in m)", query.column),
        Aggregate::Min => format!("min((r[{}] for r in m), default=0)", query.column),
        Aggregate::Max => format!("max((r[{}] for r in m), default=0)", query.column),
    };
    let filter = match query.filter {
        None => "True".to_string(),
        Some((c, cmp, v)) => {
            let op = match cmp {
                Cmp::Eq => "==",
                Cmp::Ne => "!=",
                Cmp::Lt => "<",
                Cmp::Le => "<=",
                Cmp::Gt => ">",
                Cmp::Ge => ">=",
            };
            format!("r[{c}] {op} {v}")
        }
    };
    let script = format!(
        "import sys\n\
         rows=[[int(x) for x in l.split(',')] for l in open(sys.argv[1]).read().splitlines()]\n\
         m=[r for r in rows if {filter}]\n\
         print(len(rows), len(m), {agg})"
    );
    let out = python(&script, data);
    let mut it = out.split(' ');
    let mut next = || it.next().unwrap().to_string();
    (next().parse().unwrap(), next().parse().unwrap(), next().parse().unwrap())
}

fn records(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut out = String::new();
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let a = (x >> 33) as i64 % 1000 - 500;
        let b = (x >> 20) as i64 % 7;
        let c = if i % 97 == 0 { i64::MAX - i as i64 } else { (x as i64) >> 8 };
        out.push_str(&format!("{a},{b},{c}\n"));
    }
    out.into_bytes()
}

fn run(tee: &mut TestTee, request: &Request, data: &[u8], chunk: usize) -> Outcome {
    let action = tee.instruction(&RUN, &request.encode(), &[0, 2]);
    tee.run_chunked(&action, data, chunk)
}

#[test]
fn answers_are_sqlites_over_any_chunking() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    let data = records(5000, 7);
    let object = sha256(&data);
    let queries = [
        Query { aggregate: Aggregate::Count, column: 0, filter: None },
        Query { aggregate: Aggregate::Count, column: 0, filter: Some((1, Cmp::Eq, 3)) },
        Query { aggregate: Aggregate::Sum, column: 0, filter: Some((1, Cmp::Ne, 3)) },
        Query { aggregate: Aggregate::Sum, column: 2, filter: None },
        Query { aggregate: Aggregate::Min, column: 0, filter: Some((2, Cmp::Gt, 0)) },
        Query { aggregate: Aggregate::Max, column: 2, filter: Some((0, Cmp::Le, -250)) },
        Query { aggregate: Aggregate::Max, column: 0, filter: Some((0, Cmp::Lt, -1000)) },
        Query { aggregate: Aggregate::Min, column: 1, filter: Some((0, Cmp::Ge, 499)) },
    ];
    for (i, query) in queries.iter().enumerate() {
        let request = Request { object, size: data.len() as u64, query: *query };
        let chunk = [1 << 16, 1000, 7][i % 3];
        let Outcome::Output(out) = run(&mut tee, &request, &data, chunk) else { panic!("{query:?}") };
        let o = <QueryOutput as SolType>::abi_decode_params_validate(&out).unwrap();
        assert_eq!((o.object.0, o.size), (object, data.len() as u64));
        assert_eq!(
            <QueryWords as SolType>::abi_encode(&o.query),
            request.encode()[64..],
            "the query is signed verbatim"
        );
        let (n, m, v) = python_answer(query, &data);
        assert_eq!((o.records, o.matched), (n, m), "{query:?}");
        assert_eq!(o.value.to_string(), v.to_string(), "{query:?}");
    }
}

#[test]
fn data_that_is_not_the_object_or_unreadable_records_fail() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    let sum = Query { aggregate: Aggregate::Sum, column: 1, filter: None };
    let count = Query { aggregate: Aggregate::Count, column: 0, filter: None };
    let good = records(50, 1);
    let mut other = good.clone();
    other[3] = b'9';
    let cases: Vec<(Query, Vec<u8>, H256, u16, &str)> = vec![
        (sum, other.clone(), sha256(&good), 3, "not the object"),
        // The records are the object, but the query cannot read them.
        (sum, b"1,2\n3\n".to_vec(), sha256(b"1,2\n3\n"), 4, "lacks a column"),
        (sum, b"1,+2\n".to_vec(), sha256(b"1,+2\n"), 4, "not a decimal int64"),
        (sum, b"1,02\n".to_vec(), sha256(b"1,02\n"), 4, "not a decimal int64"),
        (sum, b"1,-0\n".to_vec(), sha256(b"1,-0\n"), 4, "not a decimal int64"),
        (sum, b"1,9223372036854775808\n".to_vec(), sha256(b"1,9223372036854775808\n"), 4, "not a decimal int64"),
        (count, b"1,2\n3".to_vec(), sha256(b"1,2\n3"), 4, "does not end in a newline"),
    ];
    for (query, data, object, code, why) in cases {
        let request = Request { object, size: data.len() as u64, query };
        match run(&mut tee, &request, &data, 2) {
            Outcome::Failed(406, log) => assert!(log.contains(why) && log.contains(&format!("code {code}")), "{log}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // "-9223372036854775808" is an int64; COUNT reads no field, so anything goes in a line.
    let min = b"1,-9223372036854775808\n".to_vec();
    let request = Request { object: sha256(&min), size: min.len() as u64, query: sum };
    assert!(matches!(run(&mut tee, &request, &min, 5), Outcome::Output(_)));
}

#[test]
fn a_record_may_be_4095_bytes_and_a_newline_not_more() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    let count = Query { aggregate: Aggregate::Count, column: 0, filter: None };
    for (len, ok) in [(MAX_LINE - 1, true), (MAX_LINE, false)] {
        let mut data = vec![b'x'; len];
        data.push(b'\n');
        data.extend_from_slice(b"1\n");
        let request = Request { object: sha256(&data), size: data.len() as u64, query: count };
        for chunk in [1000, 1 << 16] {
            match run(&mut tee, &request, &data, chunk) {
                Outcome::Output(out) => {
                    assert!(ok, "{len}");
                    let o = <QueryOutput as SolType>::abi_decode_params_validate(&out).unwrap();
                    assert_eq!(o.records, 2);
                }
                Outcome::Failed(406, log) => assert!(!ok && log.contains("longer than 4096"), "{len}: {log}"),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn requests_decode_strictly() {
    let mut tee = TestTee::new(&[&EXTENSION]).unwrap();
    let good =
        Request { object: [1; 32], size: 0, query: Query { aggregate: Aggregate::Count, column: 0, filter: None } }
            .encode();
    assert_eq!(good.len(), 224);
    let with = |at: usize, word: [u8; 32]| {
        let mut m = good.clone();
        m[at..at + 32].copy_from_slice(&word);
        m
    };
    let small = |v: u8| {
        let mut w = [0; 32];
        w[31] = v;
        w
    };
    let mut not_int64 = [0u8; 32];
    not_int64[23] = 1;
    let mut negative_unsigned = [0xffu8; 32];
    negative_unsigned[24] = 0x7f; // high bytes say negative, the int64 says positive
    for (message, why) in [
        (good[..223].to_vec(), "abi.encode"),
        ([good.as_slice(), &[0]].concat(), "abi.encode"),
        (with(64, small(4)), "aggregate is not"),
        (with(96, small(1)), "COUNT takes column 0"),
        (with(160, small(7)), "filterOp is not"),
        (with(128, small(1)), "no filter takes"),
        (with(192, small(1)), "no filter takes"),
        (with(192, not_int64), "not an int64"),
        (with(192, negative_unsigned), "not an int64"),
        (
            with(64, {
                let mut w = small(1);
                w[0] = 1;
                w
            }),
            "abi.encode",
        ),
    ] {
        let action = tee.instruction(&RUN, &message, &[0, 2]);
        match tee.run(&action, &[]) {
            Outcome::Failed(406, log) => assert!(log.contains(why), "{why}: {log}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // Negative filter values round-trip (sign-extended), as alloy encodes them.
    let q = Query { aggregate: Aggregate::Sum, column: 1, filter: Some((0, Cmp::Lt, -5)) };
    let request = Request { object: [1; 32], size: 3, query: q };
    let words = QueryWords { aggregate: 1, column: 1, filterColumn: 0, filterOp: 3, filterValue: -5 };
    assert_eq!(<QueryWords as SolType>::abi_encode(&words), request.encode()[64..]);
    assert_eq!(Request::decode(&request.encode()).unwrap(), request);
}
