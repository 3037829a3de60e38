output "distribution_arn" {
  description = "ARN of the distribution (the bucket policy grants it read access)."
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "Domain files are served from: the first alias, or the distribution's *.cloudfront.net name (S3_CLOUDFRONT_DOMAIN)."
  value       = length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name
}
