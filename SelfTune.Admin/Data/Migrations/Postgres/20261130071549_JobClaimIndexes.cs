using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class JobClaimIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Jobs_ConcurrencyKey",
                table: "Jobs");

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_ConcurrencyKey_State",
                table: "Jobs",
                columns: new[] { "ConcurrencyKey", "State" });

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_State_Id",
                table: "Jobs",
                columns: new[] { "State", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Jobs_ConcurrencyKey_State",
                table: "Jobs");

            migrationBuilder.DropIndex(
                name: "IX_Jobs_State_Id",
                table: "Jobs");

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_ConcurrencyKey",
                table: "Jobs",
                column: "ConcurrencyKey");
        }
    }
}
