//! `Filter`: an inet_diag bytecode program, which the kernel runs on each
//! socket of a dump before copying it out (inet_diag_bc_run,
//! net/ipv4/inet_diag.c). Copying a socket out costs more than walking
//! past it, so a dump of tens of thousands of sockets is cheaper when only
//! the ones doctor counts are sent.
//!
//! A program here is a list of clauses: a socket is sent when every
//! condition of some clause holds. Each op is `{code: u8, yes: u8, no:
//! u16}`; the kernel moves on `yes` bytes when the condition holds and `no`
//! bytes when not, and sends the socket when it lands exactly on the end.
//! The kernel's audit (inet_diag_bc_audit) follows only the `yes` chain and
//! accepts a `no` target only on that chain or at the end (plus 4, which
//! rejects). So every op's `yes` is its own length; a failed condition
//! jumps to the next clause (past the end after the last one: rejected);
//! and a clause whose conditions held ends with an unconditional jump
//! (JMP) to the end.

/// The op codes used (include/uapi/linux/inet_diag.h).
const NOP: u8 = 0;
const JMP: u8 = 1;
const S_GE: u8 = 2;
const S_LE: u8 = 3;
const CGROUP_COND: u8 = 13;

/// One condition on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Not a full socket: a half-open request or a TIME_WAIT entry. The
    /// kernel gives those cgroup id 0 in the filter (inet_diag_bc_sk),
    /// where every full socket has its cgroup's (the root's is 1); an
    /// accepted connection cannot be told from a request by its ports, nor
    /// by SOCK_BINDPORT_LOCK, which the kernel clears in the accepted
    /// socket (measured on 6.18). Kernels without the cgroup op refuse the
    /// program.
    NotFull,
    /// The local port lies in `lo..=hi`.
    LocalPortIn(u16, u16),
}

impl Condition {
    fn len(self) -> usize {
        match self {
            // The cgroup id follows the op, 8 bytes.
            Condition::NotFull => 12,
            // A comparison carries its port in a second op.
            Condition::LocalPortIn(..) => 16,
        }
    }
}

fn op(out: &mut Vec<u8>, code: u8, yes: usize, no: usize) {
    out.push(code);
    out.push(u8::try_from(yes).expect("an op's own length"));
    out.extend_from_slice(&u16::try_from(no).expect("a short program").to_ne_bytes());
}

/// The program sending a socket when all conditions of any clause hold.
pub fn program<C: AsRef<[Condition]>>(clauses: &[C]) -> Vec<u8> {
    let lens: Vec<usize> = clauses
        .iter()
        .map(|c| c.as_ref().iter().map(|k| k.len()).sum::<usize>() + 4)
        .collect();
    let end: usize = lens.iter().sum();
    let mut out = Vec::with_capacity(end);
    let mut next_clause = 0;
    for (clause, len) in clauses.iter().zip(&lens) {
        next_clause += len;
        // After the last clause, 4 bytes past the end: rejected.
        let failed = if next_clause == end {
            end + 4
        } else {
            next_clause
        };
        for &condition in clause.as_ref() {
            let here = out.len();
            match condition {
                Condition::NotFull => {
                    op(&mut out, CGROUP_COND, 12, failed - here);
                    out.extend_from_slice(&0u64.to_ne_bytes());
                }
                Condition::LocalPortIn(lo, hi) => {
                    op(&mut out, S_GE, 8, failed - here);
                    op(&mut out, NOP, 0, lo.into());
                    op(&mut out, S_LE, 8, failed - here - 8);
                    op(&mut out, NOP, 0, hi.into());
                }
            }
        }
        let here = out.len();
        op(&mut out, JMP, 4, end - here);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's audit and run (net/ipv4/inet_diag.c) for the ops built
    /// here: `None` where the audit would refuse the program.
    fn run(program: &[u8], sport: u16, full: bool) -> Option<bool> {
        let at = |i: usize| {
            let b = &program[i..i + 4];
            (
                b[0],
                usize::from(b[1]),
                usize::from(u16::from_ne_bytes([b[2], b[3]])),
            )
        };
        // valid_cc: a target counted from the end lies on the yes chain.
        let on_chain = |remaining: usize| {
            let mut len = program.len();
            let mut i = 0;
            while len > remaining {
                let (_, yes, _) = at(i);
                if yes < 4 || yes % 4 != 0 || yes > len {
                    return false;
                }
                i += yes;
                len -= yes;
            }
            len == remaining
        };
        let mut i = 0;
        while i < program.len() {
            let (code, yes, no) = at(i);
            let len = program.len() - i;
            let min = match code {
                S_GE | S_LE => 8,
                CGROUP_COND => 12,
                JMP | NOP => 4,
                _ => return None,
            };
            if min > len {
                return None;
            }
            if code != NOP
                && (no < min || no > len + 4 || no % 4 != 0 || (no < len && !on_chain(len - no)))
            {
                return None;
            }
            if yes < min || yes > len + 4 || yes % 4 != 0 {
                return None;
            }
            i += yes;
        }
        if i != program.len() {
            return None;
        }
        let mut i: isize = 0;
        let end = program.len() as isize;
        while i < end {
            let (code, yes, no) = at(i as usize);
            let word = |at: usize| &program[i as usize + at..];
            let port = || usize::from(u16::from_ne_bytes([word(6)[0], word(6)[1]]));
            let cgroup = || u64::from_ne_bytes(word(4)[..8].try_into().unwrap());
            let holds = match code {
                NOP => true,
                JMP => false,
                S_GE => usize::from(sport) >= port(),
                S_LE => usize::from(sport) <= port(),
                // A full socket's cgroup id is never 0.
                CGROUP_COND => !full && cgroup() == 0,
                _ => unreachable!(),
            };
            i += if holds { yes } else { no } as isize;
        }
        Some(i == end)
    }

    #[test]
    fn a_socket_is_sent_when_any_clause_holds_whole() {
        use Condition::*;
        let cases: [&[&[Condition]]; 5] = [
            &[&[NotFull]],
            &[&[LocalPortIn(100, 200)]],
            &[&[NotFull], &[LocalPortIn(100, 200)]],
            &[&[LocalPortIn(100, 200), NotFull], &[LocalPortIn(150, 300)]],
            &[
                &[LocalPortIn(0, 9)],
                &[LocalPortIn(20, 29), NotFull],
                &[LocalPortIn(40, 40)],
            ],
        ];
        for clauses in cases {
            let p = program(clauses);
            for sport in [
                0, 1, 9, 10, 19, 20, 29, 30, 39, 40, 41, 99, 100, 149, 150, 200, 201, 300, 301,
                65535,
            ] {
                for full in [false, true] {
                    let expected = clauses.iter().any(|c| {
                        c.iter().all(|k| match *k {
                            NotFull => !full,
                            LocalPortIn(lo, hi) => (lo..=hi).contains(&sport),
                        })
                    });
                    assert_eq!(
                        run(&p, sport, full),
                        Some(expected),
                        "{clauses:?} port {sport} full {full}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_audit_mirror_refuses_a_jump_off_the_chain() {
        let mut p = program(&[&[Condition::NotFull], &[Condition::LocalPortIn(1, 2)]]);
        // The cgroup op's failure now lands inside the S_GE op's port word.
        p[2..4].copy_from_slice(&20u16.to_ne_bytes());
        assert_eq!(run(&p, 1, false), None);
    }
}
