#!/usr/bin/env bash
# The SavedModel signature input is named after the model's Input layer
# (issue 25 point 8): Keras's k3_seq_mlp, its InputLayer renamed "pixels",
# is exported from its JSON and weights, served, and a TF Serving client's
# named-input request ({"instances": [{"pixels": ...}]}, g3doc/api_rest.md
# "Predict API", row format) predicts Keras's recorded outputs; the unrenamed
# JSON keeps Keras's default "input_layer"; a wrong width is a 400 naming
# "pixels" and both shapes.
# Usage: export_input_name_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without the shared Keras test files.
set -u
bin="$1/shardtrain"
src="$2"
keras="$src/../shared/testdata/keras"
[ -f "$keras/k3_seq_mlp.keras" ] || { echo "SKIP: needs $keras"; exit 77; }
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server"; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
config="$src/configs/fashion_mlp.textproto"

python3 - "$keras/k3_seq_mlp.to_json.json" "$work/pixels.json" <<'EOF'
import json, sys
model = json.load(open(sys.argv[1]))
model["config"]["layers"][0]["config"]["name"] = "pixels"
json.dump(model, open(sys.argv[2], "w"))
EOF
export_from() {  # JSON OUTPUT
  "$bin" export --config "$config" --run-dir "$work/run" --model-json "$1" \
    --init-from "$keras/k3_seq_mlp.keras" --format saved_model --output "$2" >"$work/export.log" 2>&1 ||
    fail "export of $1 failed: $(tail -2 "$work/export.log")"
}
export_from "$work/pixels.json" "$work/pixels"
export_from "$keras/k3_seq_mlp.to_json.json" "$work/default"

"$bin" serve --model_name m --model_base_path "$work/pixels" --port 0 >"$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://[^ ]*/v1/models/m' "$work/serve.log" | head -1)
  [ -n "$url" ] && curl -sf "$url" >/dev/null && break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: serve did not start: $(cat "$work/serve.log")"; exit 1; }

python3 - "$keras" "$url" <<'EOF' || failures=$((failures + 1))
import json, sys, urllib.request, urllib.error
keras, url = sys.argv[1], sys.argv[2]
rows = [[float(v) for v in line.split()] for line in open(keras + "/k3_seq_mlp.input.txt")]
want = [[float(v) for v in line.split()] for line in open(keras + "/k3_seq_mlp.output.txt")]
def post(body):
    request = urllib.request.Request(url + ":predict", json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
status, reply = post({"instances": [{"pixels": row} for row in rows]})
got = reply.get("predictions") or []
got = [row["output_0"] if isinstance(row, dict) else row for row in got]
if status != 200 or len(got) != len(want) or any(abs(g - w) > 1e-5 for gr, wr in zip(got, want) for g, w in zip(gr, wr)):
    sys.exit(f"FAIL: named-input predict: {status} {reply}")
status, reply = post({"inputs": {"pixels": [rows[0][:3]]}})
expected = (f"input 'pixels' expects shape [-1, {len(rows[0])}] (DT_FLOAT; -1: any size), "
            "got [1, 3]")
if status != 400 or expected not in reply.get("error", ""):
    sys.exit(f"FAIL: wrong width: {status} {reply}")
EOF
grep -q 'input_layer:0' "$work/default/1/saved_model.pb" ||
  fail "the unrenamed JSON's signature input is not Keras's input_layer"
grep -q 'input_layer' "$work/pixels/1/saved_model.pb" &&
  fail "the renamed export still names input_layer"
[ "$failures" -eq 0 ] && echo "PASS: export_input_name" || exit 1
