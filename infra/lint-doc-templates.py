"""Runs cfn-lint on every CloudFormation template written in a Markdown document: each ```yaml
block that starts with AWSTemplateFormatVersion is written to a file of its own and linted.

usage: python3 infra/lint-doc-templates.py CFN_LINT DOC.md...
"""
import pathlib
import re
import subprocess
import sys
import tempfile

BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def main() -> int:
    cfn_lint, docs = sys.argv[1], sys.argv[2:]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for doc in docs:
            text = pathlib.Path(doc).read_text()
            blocks = [b for b in BLOCK.findall(text) if b.startswith("AWSTemplateFormatVersion")]
            if not blocks:
                print(f"{doc}: no CloudFormation template found", file=sys.stderr)
                failed += 1
            for i, block in enumerate(blocks, 1):
                path = pathlib.Path(tmp) / f"{pathlib.Path(doc).stem}-{i}.yaml"
                path.write_text(block)
                result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True)
                status = "ok" if result.returncode == 0 else "FAILED"
                print(f"{doc}, template {i}: cfn-lint {status}")
                if result.returncode != 0:
                    print(result.stdout + result.stderr, file=sys.stderr)
                    failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
