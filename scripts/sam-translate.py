#!/usr/bin/env python3
"""SAM template -> plain CloudFormation JSON, offline, with AWS's own transform (aws-sam-translator).

Usage: sam-translate.py [TEMPLATE]   (YAML or JSON; standard input without TEMPLATE)

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
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    sam = yaml_parse(text)
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
    json.dump(cfn, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
