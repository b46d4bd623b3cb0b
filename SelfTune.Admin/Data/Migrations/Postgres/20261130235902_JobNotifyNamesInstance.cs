using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <summary>
    /// The "Jobs" NOTIFY carries the application_name of the transaction that raised it: each instance connects with one
    /// of its own (DatabaseSettings.InstanceName) and leaves its own notifications to its in-process wake-ups
    /// (PostgresNotifications). An instance of an older version ignores the payload.
    /// </summary>
    public partial class JobNotifyNamesInstance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE OR REPLACE FUNCTION selftune_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('selftune_jobs', current_setting('application_name'));
                    RETURN NULL;
                END $$;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE OR REPLACE FUNCTION selftune_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('selftune_jobs', '');
                    RETURN NULL;
                END $$;
                """);
        }
    }
}
