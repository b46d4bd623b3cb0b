using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class EntryVersionCount : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "VersionCount",
                table: "Entries",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            // Existing entries get the count of the versions they have; each publish keeps it from here on.
            migrationBuilder.Sql("""UPDATE "Entries" SET "VersionCount" = (SELECT COUNT(*) FROM "Versions" WHERE "Versions"."EntryId" = "Entries"."Id");""");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "VersionCount",
                table: "Entries");
        }
    }
}
