-- User profiles (issue 5/6 contract): a contact phone shown to the officers and dispatchers
-- handling an alarm on the user's vehicle. SQLite dialect; keep in step with
-- ../postgres/0004_profiles.sql. The display name is the existing `users.name`.
ALTER TABLE users ADD COLUMN phone TEXT;
