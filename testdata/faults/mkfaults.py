# Builds testdata/faults/faulty.{ami,ari.jsonl} from two real lab recordings
# (inbound-answered, outbound-busy) with faults spliced in.
# Run from the repository root: python3 testdata/faults/mkfaults.py
import re
src = "testdata/recordings/"
out = "testdata/faults/"

def frames(name):
    data = open(src + name + ".ami", "rb").read()
    parts = data.split(b"\r\n\r\n")
    assert parts[-1].strip() == b"", parts[-1][:50]
    return [p + b"\r\n\r\n" for p in parts[:-1]]

a, b = frames("inbound-answered"), frames("outbound-busy")
fr = list(a) + list(b)

def find(event, start=0, nth=0):
    for i in range(start, len(fr)):
        if fr[i].startswith(b"Event: " + event + b"\r\n"):
            if nth == 0:
                return i
            nth -= 1
    raise KeyError(event)

def drop_ids(f):
    return b"".join(l for l in f.splitlines(True) if not re.match(rb"(Uniqueid|Linkedid|DestUniqueid|DestLinkedid): ", l))

# Work from the end so earlier indexes stay valid.
bstart = len(a)
hb = find(b"Hangup", bstart)                     # outbound-busy: a Hangup
fr.insert(hb + 3, fr[hb])                         # duplicate, three frames later
fr.insert(hb, drop_ids(fr[hb]))                   # the same Hangup without ids
db = find(b"DialBegin")
fr.insert(db + 1, fr[db])                         # duplicate, right after
ns = find(b"Newstate")
lines = fr[ns].split(b"\r\n", 1)
fr[ns] = lines[0] + b"\r\n\x1b[31m\x00junk line without colon\r\n" + lines[1]   # malformed line kept in a frame
nc = find(b"Newchannel")
fr.insert(nc + 1, drop_ids(fr[nc]))               # a Newchannel without ids
fr.insert(nc + 1, b"Event: VarSet\r\nPrivilege: dialplan,all\r\nTimestamp: 1795629960.439500\r\nChannel: Local/800221@from-external-0000000f;1\r\nUniqueid: lab-1795629960.30\r\nLinkedid: lab-1795629960.30\r\nVariable: BIG\r\nValue: " + b"A" * (1100 * 1024) + b"\r\n\r\n")  # over 1 MiB
fr.insert(3, b"\x00\x13\xfe\xff\x89PNG\x1a\x0a".replace(b"\x0a", b"") + b" binary garbage \xc3\x28\r\n\x7f\x7f\x7f more\r\n\r\n")  # garbage bytes
fr.insert(5, b"GET /ari/events HTTP/1.1\r\nHost: pbx\r\n\r\n")   # not AMI, with colons
tail = fr[find(b"Hangup", bstart, 1)]
body = b"Asterisk Call Manager/9.0.0\r\n" + b"".join(fr) + tail[: len(tail) // 2]  # truncated tail
open(out + "faulty.ami", "wb").write(body)

def lines(name):
    return open(src + name + ".ari.jsonl", "rb").read().split(b"\n")[:-1]

la, lb = lines("inbound-answered"), lines("outbound-busy")
ls = la + lb
ls.insert(len(la) + 4, lb[3])                                      # duplicated line (harmless: the engine is idempotent)
ls.insert(10, b'{"type":"ChannelCreated","channel":"not an object"}')  # wrong field type
ls.insert(6, b"")                                                  # blank line (fine)
ls.insert(5, la[5][:90])                                           # a line cut short
ls.insert(3, b"\x00\xff\xfe garbage bytes \x89PNG")                # garbage
body = b"\n".join(ls) + b"\n" + lb[-1][:70]                        # truncated tail
open(out + "faulty.ari.jsonl", "wb").write(body)
