# A stand-in for the little of Rails that the README's model concern uses, since Debian ships no
# Rails: ActiveSupport::Concern's `included do … end` block, and an ApplicationRecord whose
# after_{create,update,destroy}_commit register callbacks that run once the record's change is
# "committed" (here: kept in memory), with the record as self — Rails instance_exec's a callback
# lambda that takes no arguments the same way. Nothing of the concern itself is stubbed: its
# Redis connection and FCALL are real.
module ActiveSupport
  module Concern
    # Called with a block in the module body (store it), and by Ruby when a class includes the
    # module (run it in that class), as Rails' Concern does.
    def included(base = nil, &block)
      return @_included_block = block if block

      super
      base.class_eval(&@_included_block) if @_included_block
    end
  end
end

class ApplicationRecord
  @@next_id = 0

  class << self
    # Rails derives it with its inflector (Book → books); a plain s does for these models.
    def table_name = "#{name.downcase}s"
    def commit_callbacks = (@commit_callbacks ||= Hash.new { |hash, event| hash[event] = [] })
    def after_create_commit(callback) = commit_callbacks[:create] << callback
    def after_update_commit(callback) = commit_callbacks[:update] << callback
    def after_destroy_commit(callback) = commit_callbacks[:destroy] << callback
    def create!(attributes) = new.tap { |record| record.send(:commit, :create, attributes) }
  end

  attr_reader :id

  def update!(attributes) = commit(:update, attributes)
  def destroy! = commit(:destroy, {})
  def as_json(*) = { 'id' => id }.merge(@attributes)

  private

  def commit(event, attributes)
    @id ||= (@@next_id += 1)
    @attributes = (@attributes || {}).merge(attributes.transform_keys(&:to_s))
    self.class.commit_callbacks[event].each { |callback| instance_exec(&callback) }
    self
  end
end
