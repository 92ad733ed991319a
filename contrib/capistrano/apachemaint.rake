# The Capistrano tasks are now a gem: gem/capistrano-apachemaint in this repository.
#
#   gem build -C gem/capistrano-apachemaint capistrano-apachemaint.gemspec --output capistrano-apachemaint.gem
#   gem install --local capistrano-apachemaint.gem     # or Gemfile: gem "capistrano-apachemaint"
#   Capfile: require "capistrano/apachemaint"
#
# The tasks are apachemaint:down / apachemaint:up / apachemaint:status (this file's old
# apachemaint:disable / apachemaint:enable). Copied into lib/capistrano/tasks/, this file loads
# the installed gem, so a Capfile that imports it keeps working.
require "capistrano/apachemaint"
