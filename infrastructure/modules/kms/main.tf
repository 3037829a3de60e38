data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: logs, secrets, S3, RDS, ElastiCache and ECR"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "key" {
  # Delegates use of the key to IAM policies in this account (the roles the stack creates
  # grant exactly what each one needs); without it the key would be unmanageable.
  statement {
    sid       = "AccountIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs is not an IAM principal of this account, so it needs the key policy.
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/${var.name}/*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/rds/instance/${var.name}/*",
      ]
    }
  }

  dynamic "statement" {
    for_each = var.allow_cloudfront ? [1] : []

    # CloudFront reads SSE-KMS objects through origin access control. The distribution's
    # ARN is not known before the bucket (and so this key) exists, hence the account-wide
    # match instead of the exact distribution.
    content {
      sid       = "CloudFrontOriginAccessControl"
      actions   = ["kms:Decrypt"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "AWS:SourceArn"
        values   = ["arn:${local.partition}:cloudfront::${local.account_id}:distribution/*"]
      }
    }
  }
}
