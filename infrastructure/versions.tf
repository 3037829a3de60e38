terraform {
  # 1.9: variable validations that refer to other variables.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds the generated database password, Redis token and API key secret: keep it
  # in an encrypted, access-controlled bucket. Fill in and run `terraform init -reconfigure`.
  #
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "youtube-download-service/prod.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}
