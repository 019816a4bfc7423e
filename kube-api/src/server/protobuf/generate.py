#!/usr/bin/env python3
"""Regenerates schema.txt, the protobuf field table of the built-in kinds.

Field numbers and wire types come from the prost sources of the k8s-pb crate; JSON field
names come from the serde code of k8s-openapi (the newest version module), falling back to
lowerCamelCase. Run from the workspace root after `cargo fetch`:

    python3 kube-api/src/server/protobuf/generate.py K8S_PB_SRC K8S_OPENAPI_SRC/v1_NN

Output lines: `M <path>` starts a message; `F <tag> <json name> <o|r> <type>` is a field
(o optional, r repeated), `P <tag> <json name> <key> <value>` a map field. Types are the
scalar names (string, bytes, int32, int64, bool, double, float) or `.path` of a message.
The JSON name `-` marks an embedded Go struct whose fields are inlined.
"""
import os
import re
import sys


# prost field names that k8s-openapi spells differently.
# `-` marks an embedded struct whose field is not named after its type.
OVERRIDES = {
    "JsonSchemaProps.ref": "$ref",
    "JsonSchemaPropsOrArray.j_son_schemas": "JSONSchemas",
    "Probe.handler": "-",
}


def camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def openapi_names(root):
    """(module path, struct) -> {rust field: json name} from k8s-openapi serde code."""
    names = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            text = open(os.path.join(dirpath, f)).read()
            m = re.search(r"pub struct (\w+) \{", text)
            if not m:
                continue
            rel = os.path.relpath(dirpath, root).replace(os.sep, ".")
            fields = {}
            for j, r in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text):
                fields[r.rstrip("_")] = j
            names[(rel, m.group(1).lower())] = fields
    return names


FIELD = re.compile(
    r"#\[prost\(([^\]]*?)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\s*(?=///|#\[|pub |\})", re.S
)


def resolve(module, ty):
    ty = re.sub(r"\s+", "", ty)
    for wrap in ("::core::option::Option<", "::prost::alloc::vec::Vec<",
                 "::prost::alloc::boxed::Box<"):
        while ty.startswith(wrap):
            ty = ty[len(wrap):-1]
    parts = ty.split("::")
    mod = list(module)
    while parts and parts[0] == "super":
        mod.pop()
        parts.pop(0)
    return "." + ".".join(mod + parts)


def main(pb_root, openapi_root):
    names = openapi_names(openapi_root)
    out = []
    for dirpath, _, files in sorted(os.walk(pb_root)):
        if "mod.rs" not in files:
            continue
        module = [p for p in os.path.relpath(dirpath, pb_root).split(os.sep) if p != "."]
        text = open(os.path.join(dirpath, "mod.rs")).read()
        for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
            struct, body = m.group(1), m.group(2)
            known = names.get((".".join(module), struct.lower()), {})
            out.append("M " + ".".join(module + [struct]))
            for attr, field, ty in FIELD.findall(body + "\n}"):
                tag = re.search(r'tag = "(\d+)"', attr).group(1)
                json = OVERRIDES.get(f"{struct}.{field}") or known.get(field)
                if json is None and known:
                    # prost splits acronyms (`pod_cid_rs`): match ignoring case and `_`.
                    flat = {k.replace("_", ""): v for k, v in known.items()}
                    json = flat.get(field.replace("_", ""))
                    type_name = resolve(module, ty).rsplit(".", 1)[-1]
                    if json is None and camel(field).lower() == type_name.lower():
                        # An embedded Go struct (`json:",inline"`): its fields are ours.
                        json = "-"
                    if json is None:
                        sys.stderr.write(f"name not in k8s-openapi: {struct}.{field}\n")
                json = json or camel(field)
                mp = re.match(r'btree_map = "(\w+), (\w+)"', attr)
                if mp:
                    key, value = mp.groups()
                    if value == "message":
                        inner = re.sub(r"\s+", "", ty)
                        inner = inner[inner.index(",") + 1:-1]
                        value = resolve(module, inner)
                    out.append(f"P {tag} {json} {key} {value}")
                    continue
                kind = attr.split(",")[0].split(" ")[0]
                card = "r" if "repeated" in attr else "o"
                if kind == "message":
                    kind = resolve(module, ty)
                out.append(f"F {tag} {json} {card} {kind}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
