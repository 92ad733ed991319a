require_relative "lib/capistrano/apachemaint/version"

Gem::Specification.new do |spec|
  spec.name = "capistrano-apachemaint"
  spec.version = Capistrano::Apachemaint::VERSION
  spec.summary = "Capistrano 3 tasks for apachemaint: Apache maintenance mode on every web server"
  spec.description = "apachemaint:down, apachemaint:up and apachemaint:status run apachemaint on every " \
                     "server of a role over SSH; an opt-in hook keeps the site down from before the " \
                     "migration until the new release is live."
  spec.authors = ["apachemaint maintainers"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/apachemaint/apachemaint"
  spec.required_ruby_version = ">= 2.5"
  spec.files = Dir["lib/**/*.{rb,rake}"] + %w[README.md LICENSE]
  spec.require_paths = ["lib"]
  # Any Capistrano 3: the gem works with the Capistrano a distribution ships (Debian 12: 3.17),
  # and a tighter pin would force a download where rubygems.org is out of reach.
  spec.add_runtime_dependency "capistrano", "~> 3.0"
end
