#!/usr/bin/env python3
"""SAM template -> plain CloudFormation JSON, offline, with AWS's own transform (aws-sam-translator).

Usage: sam-translate.py [--no-transform] [TEMPLATE]   (YAML or JSON; standard input without TEMPLATE)

--no-transform only reads the template, as the transform does: YAML short forms (`!Ref`, `!Sub`...)
become their long JSON forms.

Each function's CodeUri becomes an S3 URI first, as `sam package` leaves it: the translator wants
uploaded code, and the local stack never deploys code (cargo lambda watch serves the functions).
Metadata is passed through, so each function keeps `Metadata.BuildProperties.Binary`. No AWS call
is made: the region is fixed, and no managed policy is looked up (the template names none).
"""

import json
import sys

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

# The local stack's region (pms-local's REGION): the translator builds ARNs with it.
REGION = "us-east-1"
CODE_BUCKET = "pms-local-code"


def no_managed_policies():
    raise SystemExit("sam-translate: the template names a managed policy; it cannot be looked up offline")


def main() -> int:
    args = sys.argv[1:]
    transform = "--no-transform" not in args
    args = [a for a in args if a != "--no-transform"]
    text = open(args[0]).read() if args else sys.stdin.read()
    sam = yaml_parse(text)
    if not transform:
        # YAML dates and times are strings to CloudFormation.
        sys.stdout.write(json.dumps(sam, indent=1, default=str) + "\n")
        return 0
    for logical_id, resource in (sam.get("Resources") or {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = f"s3://{CODE_BUCKET}/{logical_id}.zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    cfn = translator.translate(
        sam,
        parameter_values={},
        passthrough_metadata=True,
        get_managed_policy_map=no_managed_policies,
    )
    sys.stdout.write(json.dumps(cfn, indent=1, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
